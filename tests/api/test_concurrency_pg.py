"""Concurrent writers on PostgreSQL: idempotent POSTs, optimistic concurrency, stable cursors.

Each test runs requests in threads, each with its own test client, against the one app; a
barrier lines the requests up so that they really overlap.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service.domain import candidates as candidates_domain
from service.models import Candidate
from tests.conftest import POSTGRES_URL

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(not POSTGRES_URL, reason="needs ROLEFIT_TEST_DATABASE_URL (PostgreSQL)"),
]


def together(app: Flask, calls: list[Callable[[Any], Any]]) -> list[Any]:
    """Run each call with its own test client, all released at the same moment."""
    barrier = threading.Barrier(len(calls))

    def run(call: Callable[[Any], Any]) -> Any:
        client = app.test_client()
        barrier.wait(timeout=10)
        return call(client)

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(run, calls))


def count(session: Session) -> int:
    session.rollback()
    return session.scalar(select(func.count()).select_from(Candidate)) or 0


@pytest.fixture
def slow_taxonomy(monkeypatch: pytest.MonkeyPatch) -> None:
    """Widen the window between a request's checks and its writes, so requests interleave."""
    load = candidates_domain._taxonomy

    def slow(session: Session) -> Any:
        time.sleep(0.2)
        return load(session)

    monkeypatch.setattr(candidates_domain, "_taxonomy", slow)


@pytest.mark.parametrize("rounds", [8])
def test_concurrent_posts_with_one_idempotency_key_create_one_row(
    app: Flask, admin_headers, session: Session, rounds: int
) -> None:
    for round_ in range(rounds):
        headers = {**admin_headers, "Idempotency-Key": f"race-{round_}"}
        body = {"name": f"Racer {round_}", "source": "ats", "external_id": f"r{round_}"}
        responses = together(
            app,
            [lambda c, b=body, h=headers: c.post("/v1/candidates", json=b, headers=h)] * 4,
        )
        statuses = sorted(r.status_code for r in responses)
        assert set(statuses) <= {201, 409}, [r.data for r in responses]
        created = [r for r in responses if r.status_code == 201]
        originals = [r for r in created if "Idempotent-Replayed" not in r.headers]
        assert len(originals) == 1
        assert {r.get_json()["id"] for r in created} == {originals[0].get_json()["id"]}
        for response in responses:
            if response.status_code == 409:
                assert "in progress" in response.get_json()["detail"]
    assert count(session) == rounds


def test_a_slow_first_post_makes_the_concurrent_retry_a_409(
    app: Flask, admin_headers, session: Session, slow_taxonomy: None
) -> None:
    headers = {**admin_headers, "Idempotency-Key": "slow-race"}
    body = {"name": "Slow"}
    responses = together(app, [lambda c: c.post("/v1/candidates", json=body, headers=headers)] * 2)
    assert sorted(r.status_code for r in responses) == [201, 409]
    assert count(session) == 1
    # Once the first has finished, a retry is its replay.
    replay = app.test_client().post("/v1/candidates", json=body, headers=headers)
    assert replay.headers["Idempotent-Replayed"] == "true"
    first = next(r for r in responses if r.status_code == 201)
    assert replay.get_json() == first.get_json()


@pytest.mark.parametrize(
    ("method", "suffix", "bodies"),
    [
        ("PATCH", "", ({"headline": "A"}, {"headline": "B"})),
        (
            "PATCH",
            "",
            (
                {"competencies": [{"competency": "okrs", "level": 3}]},
                {"competencies": [{"competency": "okrs", "level": 4}]},
            ),
        ),
        (
            "PUT",
            "/competencies",
            (
                {"competencies": [{"competency": "budgeting", "level": 2}]},
                {"competencies": [{"competency": "budgeting", "level": 5}]},
            ),
        ),
    ],
)
def test_concurrent_writes_with_one_etag_give_one_200_and_one_412(
    app: Flask,
    admin_headers,
    slow_taxonomy: None,
    method: str,
    suffix: str,
    bodies: tuple[dict, dict],
) -> None:
    client = app.test_client()
    created = client.post(
        "/v1/candidates",
        json={"name": "Contested", "competencies": [{"competency": "okrs", "level": 1}]},
        headers=admin_headers,
    )
    url = created.headers["Location"]
    headers = {**admin_headers, "If-Match": created.headers["ETag"]}
    responses = together(
        app,
        [
            lambda c, b=b: c.open(url + suffix, method=method, json=b, headers=headers)
            for b in bodies
        ],
    )
    assert sorted(r.status_code for r in responses) == [200, 412], [r.data for r in responses]
    winner = next(r for r in responses if r.status_code == 200)
    stored = client.get(url, headers=admin_headers)
    assert stored.headers["ETag"] == winner.headers["ETag"]
    assert stored.get_json() == winner.get_json()
    matches = client.get(f"{url}/matches", headers=admin_headers)
    assert matches.status_code == 200


def test_concurrent_role_puts_with_one_etag_give_one_new_version(app: Flask, admin_headers) -> None:
    client = app.test_client()
    etag = client.get("/v1/roles/tpm", headers=admin_headers).headers["ETag"]
    headers = {**admin_headers, "If-Match": etag}

    def put(title: str) -> Callable[[Any], Any]:
        body = {
            "title": title,
            "responsibilities": [{"competency": "technical-depth", "importance": 5, "level": 4}],
        }
        return lambda c: c.put("/v1/roles/tpm", json=body, headers=headers)

    responses = together(app, [put("A"), put("B"), put("C")])
    assert sorted(r.status_code for r in responses) == [200, 412, 412], [r.data for r in responses]
    versions = client.get("/v1/roles/tpm/versions", headers=admin_headers).get_json()["data"]
    assert [v["version"] for v in versions] == [1, 2]


def test_cursor_walk_during_inserts_and_deletes(app: Flask, admin_headers) -> None:
    client = app.test_client()

    def batch(n: int, tag: str) -> list[str]:
        body = {"candidates": [{"name": f"{tag}{i}"} for i in range(n)]}
        response = client.post("/v1/candidates/batch", json=body, headers=admin_headers)
        return [r["id"] for r in response.get_json()["results"]]

    stable, doomed = [], []
    for round_ in range(6):
        stable += batch(20, f"s{round_}-")
        doomed += batch(20, f"d{round_}-")
    done = threading.Event()
    errors: list[str] = []

    def churn() -> None:
        writer = app.test_client()
        try:
            for i, victim in enumerate(doomed):
                if done.is_set():
                    return
                response = writer.delete(f"/v1/candidates/{victim}", headers=admin_headers)
                if response.status_code != 204:
                    errors.append(f"delete {response.status_code}")
                if i % 5 == 0:
                    added = writer.post(
                        "/v1/candidates/batch",
                        json={"candidates": [{"name": f"new{i}-{j}"} for j in range(3)]},
                        headers=admin_headers,
                    )
                    if added.status_code != 200:
                        errors.append(f"insert {added.status_code}")
        finally:
            done.set()

    thread = threading.Thread(target=churn)
    thread.start()
    seen: list[str] = []
    pages = 0
    url = "/v1/candidates?limit=7"
    try:
        while url:
            response = client.get(url, headers=admin_headers)
            assert response.status_code == 200, response.data
            body = response.get_json()
            seen.extend(c["id"] for c in body["data"])
            pages += 1
            url = (
                f"/v1/candidates?limit=7&cursor={body['next_cursor']}"
                if body["next_cursor"]
                else ""
            )
            time.sleep(0.005)
    finally:
        done.set()
        thread.join(timeout=30)
    assert not errors
    assert pages > 10
    assert len(seen) == len(set(seen)), "an item came back twice"
    missing = set(stable) - set(seen)
    assert not missing, f"{len(missing)} items that existed throughout were skipped"
    assert seen == sorted(seen, key=lambda i: int(i.replace("-", ""), 16))


@pytest.fixture
def slow_alias_check(monkeypatch: pytest.MonkeyPatch) -> None:
    """Both requests pass the alias check before either writes."""
    from service.domain import competencies

    check = competencies._check_aliases

    def slow(*args: Any, **kwargs: Any) -> Any:
        result = check(*args, **kwargs)
        time.sleep(0.2)
        return result

    monkeypatch.setattr(competencies, "_check_aliases", slow)


def test_concurrent_creates_claiming_one_alias_give_one_201_and_one_409(
    app: Flask, admin_headers, slow_alias_check: None
) -> None:
    def create(key: str) -> Callable[[Any], Any]:
        body = {"key": key, "name": key, "category": "c", "aliases": ["Shared Alias"]}
        return lambda c: c.post("/v1/competencies", json=body, headers=admin_headers)

    responses = together(app, [create("first-one"), create("second-one")])
    assert sorted(r.status_code for r in responses) == [201, 409], [r.data for r in responses]
    conflict = next(r for r in responses if r.status_code == 409)
    assert conflict.mimetype == "application/problem+json"
    listed = app.test_client().get("/v1/competencies?q=shared alias", headers=admin_headers)
    assert len(listed.get_json()["data"]) == 1


def test_concurrent_alias_patches_with_one_etag_give_one_200(
    app: Flask, admin_headers, slow_alias_check: None
) -> None:
    client = app.test_client()
    url = "/v1/competencies/strategic-alignment"
    headers = {**admin_headers, "If-Match": client.get(url, headers=admin_headers).headers["ETag"]}
    responses = together(
        app,
        [
            lambda c, a=a: c.patch(url, json={"aliases": ["vision", a]}, headers=headers)
            for a in ("north star", "mission")
        ],
    )
    assert sorted(r.status_code for r in responses) == [200, 412], [r.data for r in responses]
    winner = next(r for r in responses if r.status_code == 200)
    assert client.get(url, headers=admin_headers).get_json() == winner.get_json()


def test_concurrent_creates_of_one_external_id_give_one_201_and_a_409_naming_it(
    app: Flask, admin_headers, session: Session, slow_taxonomy: None
) -> None:
    body = {"name": "Twin", "source": "ats", "external_id": "twin"}
    single = lambda c: c.post("/v1/candidates", json=body, headers=admin_headers)  # noqa: E731
    in_batch = lambda c: c.post(  # noqa: E731
        "/v1/candidates/batch", json={"candidates": [body]}, headers=admin_headers
    )
    responses = together(app, [single, single, in_batch])
    outcomes = [
        (r.status_code, r.get_json())
        if r.request.path.endswith("candidates")
        else (r.get_json()["results"][0]["status"], r.get_json()["results"][0])
        for r in responses
    ]
    assert sorted(status for status, _ in outcomes) == [201, 409, 409], outcomes
    session.rollback()
    stored = session.scalars(select(Candidate.id)).all()
    assert len(stored) == 1
    for status, body_ in outcomes:
        if status == 409:
            problem = body_.get("problem", body_)
            assert problem["existing_id"] == str(stored[0])
