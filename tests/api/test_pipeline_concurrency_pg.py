"""Concurrent recruiters on PostgreSQL: one move wins per ETag, hires never exceed openings.

Requests run in threads, each with its own test client, released together by a barrier (as in
tests/api/test_concurrency_pg.py).
"""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service.models import Job, Transition
from tests.api.test_concurrency_pg import together
from tests.conftest import POSTGRES_URL

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(not POSTGRES_URL, reason="needs ROLEFIT_TEST_DATABASE_URL (PostgreSQL)"),
]


def _open_job(client: FlaskClient, headers: dict[str, str], openings: int) -> dict[str, Any]:
    job = client.post(
        "/v1/jobs",
        json={"title": "Race", "role": "tpm", "status": "open", "openings": openings},
        headers=headers,
    )
    assert job.status_code == 201, job.data
    body: dict[str, Any] = job.get_json()
    return body


def _apply(client: FlaskClient, headers: dict[str, str], job_id: str, name: str) -> Any:
    candidate = client.post("/v1/candidates", json={"name": name}, headers=headers).get_json()
    created = client.post(
        "/v1/applications",
        json={"candidate_id": candidate["id"], "job_id": job_id},
        headers=headers,
    )
    assert created.status_code == 201, created.data
    return created


@pytest.mark.parametrize("rounds", [5])
def test_two_moves_from_one_etag_give_one_200_and_one_412(
    app: Flask, admin_headers, session: Session, rounds: int
) -> None:
    client = app.test_client()
    job = _open_job(client, admin_headers, openings=1)
    stages = [s["id"] for s in job["stages"]]
    for round_ in range(rounds):
        created = _apply(client, admin_headers, job["id"], f"Mover {round_}")
        application, etag = created.get_json(), created.headers["ETag"]
        url = f"/v1/applications/{application['id']}/move"
        headers = {**admin_headers, "If-Match": etag}
        calls = [
            lambda c, to=to, url=url, headers=headers: c.post(
                url, json={"from_stage": stages[0], "to_stage": to}, headers=headers
            )
            for to in (stages[1], stages[2])
        ]
        responses = together(app, calls)
        assert sorted(r.status_code for r in responses) == [200, 412], [r.data for r in responses]
        winner = next(r for r in responses if r.status_code == 200).get_json()
        now = client.get(f"/v1/applications/{application['id']}", headers=admin_headers)
        assert now.get_json()["stage"] == winner["stage"]
        session.rollback()
        moves = session.scalar(
            select(func.count())
            .select_from(Transition)
            .where(Transition.application_id == application["id"], Transition.kind == "moved")
        )
        assert moves == 1


@pytest.mark.parametrize(("openings", "hires"), [(1, 4), (2, 5)])
def test_concurrent_hires_never_exceed_the_openings(
    app: Flask, admin_headers, session: Session, openings: int, hires: int
) -> None:
    client = app.test_client()
    job = _open_job(client, admin_headers, openings=openings)
    targets = [_apply(client, admin_headers, job["id"], f"Hire {i}") for i in range(hires)]
    calls = [
        lambda c, t=t: c.post(
            f"/v1/applications/{t.get_json()['id']}/hire",
            json={},
            headers={**admin_headers, "If-Match": t.headers["ETag"]},
        )
        for t in targets
    ]
    responses = together(app, calls)
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] * openings + [409] * (hires - openings), [r.data for r in responses]
    session.rollback()
    hired = session.scalar(select(Job.hired).where(Job.id == job["id"]))
    assert hired == openings
    listed = client.get(
        f"/v1/applications?job_id={job['id']}&status=hired", headers=admin_headers
    ).get_json()
    assert len(listed["data"]) == openings
