"""``q`` pages are the same whichever way they are read: from the first rows by id, or through
the trigram index when the needle is rare among them (``service.infra.search``)."""

from __future__ import annotations

import uuid

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
