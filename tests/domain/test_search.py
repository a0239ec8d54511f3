"""``q`` pages are the same whichever way they are read: from the first rows by id, or through
the trigram index when the needle is rare among them (``service.infra.search``)."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy.orm import Session

from service.domain.candidates import create_candidate, list_candidates
from service.infra import search


@pytest.mark.parametrize("probe", [3, 1000])
def test_a_q_page_is_the_first_matches_by_id(
    session: Session, monkeypatch: pytest.MonkeyPatch, probe: int
) -> None:
    monkeypatch.setattr(search, "PROBE_ROWS", probe)
    names = [f"Person {i} {'Rare' if i in (11, 17) else 'Common'}" for i in range(20)]
    ids = [create_candidate(session, {"name": name, "headline": "TPM"}).id for name in names]
    session.commit()

    def page(q: str, limit: int, after: uuid.UUID | None = None) -> list[str]:
        return [c.name for c in list_candidates(session, limit=limit, q=q, after=after)]

    # A common needle (every row): the first rows by id.
    assert page("common", 4) == [n for n in names if "Common" in n][:4]
    assert page("tpm", 5) == names[:5]  # the headline counts too
    # A rare needle, beyond a probe of 3 rows: the index path, in id order, cut to the page.
    assert page("RARE", 10) == ["Person 11 Rare", "Person 17 Rare"]
    assert page("rare", 1) == ["Person 11 Rare"]
    assert page("rare", 10, after=ids[11]) == ["Person 17 Rare"]
    assert page("nobody", 10) == []


@pytest.mark.parametrize("probe", [3, 1000])
def test_an_updated_after_page_is_the_first_changes_by_id(
    session: Session, monkeypatch: pytest.MonkeyPatch, probe: int
) -> None:
    monkeypatch.setattr(search, "PROBE_ROWS", probe)
    candidates = [create_candidate(session, {"name": f"P{i}"}) for i in range(10)]
    session.commit()
    since = max(c.updated_at for c in candidates)
    for candidate in (candidates[8], candidates[2], candidates[6]):
        candidate.updated_at = since + timedelta(seconds=1)
    session.commit()

    def page(limit: int, after: uuid.UUID | None = None) -> list[str]:
        found = list_candidates(session, limit=limit, updated_after=since, after=after)
        return [c.name for c in found]

    assert page(10) == ["P2", "P6", "P8"]
    assert page(2) == ["P2", "P6"]
    assert page(10, after=candidates[6].id) == ["P8"]
    assert page(5, after=candidates[8].id) == []
