"""The hiring pipeline as a recruiter meets it (design/pipeline.md): jobs and their stages,
rejection reasons, applications, the action table (move, reject, unreject, hire, unhire, each
allowed and refused), the append-only history of transitions and its feed, a job's ranked
applications, erasure, scopes, and Idempotency-Key on actions.

Every scenario goes through the HTTP API only; scores are never computed here, they are read
from the matching endpoints (the stored match of a candidate for the job's role).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from tests.api.test_ops_and_errors import assert_problem
from tests.conftest import bearer

JOBS = "/v1/jobs"
APPLICATIONS = "/v1/applications"
REASONS = "/v1/rejection-reasons"
TRANSITIONS = "/v1/transitions"
DEFAULT_STAGES = [
    ("Applied", "applied"),
    ("Screen", "screen"),
    ("Assessment", "assessment"),
    ("Interview", "interview"),
    ("Offer", "offer"),
]
BUILTIN_REASONS = {
    "candidate-withdrew": "candidate_withdrew",
    "compensation": "candidate_withdrew",
    "missing-must-have": "we_rejected",
    "other": "other",
    "position-filled": "we_rejected",
    "weaker-than-others": "we_rejected",
}
NOBODY = "01890000-0000-7000-8000-000000000000"
MATCH_FIELDS = ("score", "band", "must_haves_met", "role_version", "model_version")


def key_id_of(token: str) -> str:
    """The id of the API key behind a token (``rf_<prefix>_<secret>`` is ``key_<prefix>``)."""
    return "key_" + token.split("_")[1]


def ago(**delta: float) -> str:
    """An RFC 3339 instant, to the second, ``delta`` before now."""
    return (datetime.now(UTC) - timedelta(**delta)).strftime("%Y-%m-%dT%H:%M:%SZ")


class Api:
    """The client with one key's headers, and the few steps every scenario repeats."""

    def __init__(self, client: FlaskClient, headers: dict[str, str]) -> None:
        self.client = client
        self.headers = headers

    # --- plain HTTP -------------------------------------------------------------------------

    def get(self, url: str, **query: Any) -> TestResponse:
        return self.client.get(url, query_string=query, headers=self.headers)

    def ok(self, url: str, **query: Any) -> Any:
        response = self.get(url, **query)
        assert response.status_code == 200, response.data
        return response.get_json()

    def post(self, url: str, body: Any, **headers: str) -> TestResponse:
        return self.client.post(url, json=body, headers={**self.headers, **headers})

    def patch(self, url: str, body: Any, **headers: str) -> TestResponse:
        return self.client.patch(url, json=body, headers={**self.headers, **headers})

    def put(self, url: str, body: Any, **headers: str) -> TestResponse:
        return self.client.put(url, json=body, headers={**self.headers, **headers})

    def etag(self, url: str) -> str:
        response = self.get(url)
        assert response.status_code == 200, response.data
        return response.headers["ETag"]

    # --- the steps of a scenario ------------------------------------------------------------

    def job(self, **overrides: Any) -> dict[str, Any]:
        """A new job (open unless ``status`` says otherwise)."""
        body = {"title": "Technical Program Manager, Payments", "role": "tpm", "status": "open"}
        body.update(overrides)
        response = self.post(JOBS, {k: v for k, v in body.items() if v is not None})
        assert response.status_code == 201, response.data
        return response.get_json()

    def set_job_status(self, job_id: str, status: str) -> TestResponse:
        url = f"{JOBS}/{job_id}"
        return self.patch(url, {"status": status}, **{"If-Match": self.etag(url)})

    def candidate(
        self, name: str, competencies: list[dict[str, Any]] | None = None, **extra: Any
    ) -> dict[str, Any]:
        body = {"name": name, "headline": f"{name}'s headline", "competencies": competencies or []}
        response = self.post("/v1/candidates", {**body, **extra})
        assert response.status_code == 201, response.data
        return response.get_json()

    def apply(self, candidate_id: str, job_id: str, **extra: Any) -> TestResponse:
        return self.post(APPLICATIONS, {"candidate_id": candidate_id, "job_id": job_id, **extra})

    def application(self, candidate_id: str, job_id: str, **extra: Any) -> dict[str, Any]:
        response = self.apply(candidate_id, job_id, **extra)
        assert response.status_code == 201, response.data
        return response.get_json()

    def act(
        self,
        application_id: str,
        action: str,
        body: dict[str, Any] | None = None,
        if_match: str | None = None,
        **headers: str,
    ) -> TestResponse:
        """POST an action with the application's current ETag unless ``if_match`` is given."""
        url = f"{APPLICATIONS}/{application_id}"
        tag = if_match if if_match is not None else self.etag(url)
        return self.post(f"{url}/{action}", body or {}, **{"If-Match": tag, **headers})

    def done(
        self, application_id: str, action: str, body: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """An action that must succeed: 200 with a new ETag and the body a GET then shows (the
        answer is built from what the action read, the GET from the database)."""
        url = f"{APPLICATIONS}/{application_id}"
        before = self.etag(url)
        response = self.act(application_id, action, body, before)
        assert response.status_code == 200, response.data
        assert response.headers["ETag"] != before
        assert response.headers["ETag"] == self.etag(url)
        assert response.get_json() == self.ok(url)
        return response.get_json()

    def move(self, application: dict[str, Any], to_stage: str, **body: Any) -> dict[str, Any]:
        current = self.ok(f"{APPLICATIONS}/{application['id']}")["stage"]["id"]
        return self.done(
            application["id"], "move", {"from_stage": current, "to_stage": to_stage, **body}
        )

    def transitions(self, application_id: str) -> list[dict[str, Any]]:
        body = self.ok(f"{APPLICATIONS}/{application_id}/transitions")
        data: list[dict[str, Any]] = body["data"]
        return data

    def stored_match(self, candidate_id: str, role: str = "tpm") -> dict[str, Any]:
        """The candidate's match for ``role`` as the matching endpoints serve it."""
        body = self.ok(f"/v1/candidates/{candidate_id}/matches")
        found: dict[str, Any] = next(m for m in body["matches"] if m["role"] == role)
        return found

    def walk(self, url: str, **query: Any) -> list[dict[str, Any]]:
        """Every item of a list, following ``next_cursor`` and the ``Link`` header."""
        items: list[dict[str, Any]] = []
        response = self.get(url, **query)
        while True:
            assert response.status_code == 200, response.data
            body = response.get_json()
            items.extend(body["data"])
            if body["next_cursor"] is None:
                assert "Link" not in response.headers
                return items
            link = response.headers["Link"]
            assert link.endswith('>; rel="next"')
            next_url = link[1 : link.index(">")]
            assert parse_qs(urlsplit(next_url).query)["cursor"] == [body["next_cursor"]]
            response = self.client.get(next_url, headers=self.headers)


@pytest.fixture
def api(client: FlaskClient, admin_headers: dict[str, str]) -> Api:
    return Api(client, admin_headers)


@pytest.fixture
def must_haves(api: Api) -> list[str]:
    """tpm's must-have competencies (service/data/builtin.yaml), as the API serves the role."""
    role = api.ok("/v1/roles/tpm")
    keys = [r["competency"] for r in role["responsibilities"] if r["must_have"]]
    assert keys
    return keys


@pytest.fixture
def strong(api: Api, must_haves: list[str]) -> Callable[[str], dict[str, Any]]:
    """A candidate who meets every must-have of tpm (level 5, assessed)."""

    def make(name: str = "Grace Hopper") -> dict[str, Any]:
        records = [{"competency": c, "level": 5, "evidence": "assessment"} for c in must_haves]
        candidate = api.candidate(name, records)
        assert api.stored_match(candidate["id"])["must_haves_met"] is True
        return candidate

    return make


@pytest.fixture
def weak(api: Api, must_haves: list[str]) -> Callable[[str], dict[str, Any]]:
    """A candidate strong on everything of tpm except its must-haves, which they miss."""

    def make(name: str = "Alan Turing") -> dict[str, Any]:
        role = api.ok("/v1/roles/tpm")
        records = [
            {"competency": r["competency"], "level": 5, "evidence": "assessment"}
            for r in role["responsibilities"]
            if r["competency"] not in must_haves
        ]
        candidate = api.candidate(name, records)
        assert api.stored_match(candidate["id"])["must_haves_met"] is False
        return candidate

    return make


def stage_ids(job: dict[str, Any]) -> dict[str, str]:
    return {s["name"]: s["id"] for s in job["stages"]}


# ============================================================================ jobs


def test_create_job_is_201_draft_with_the_five_default_stages(api: Api) -> None:
    response = api.post(
        JOBS,
        {
            "title": "Technical Program Manager, Payments",
            "role": "tpm",
            "department": "Payments",
            "location": "Berlin",
            "openings": 2,
        },
    )
    assert response.status_code == 201, response.data
    job = response.get_json()
    assert response.headers["Location"] == f"{JOBS}/{job['id']}"
    assert response.headers["ETag"]
    assert job["status"] == "draft"
    assert job["role"] == "tpm"
    assert (job["title"], job["department"], job["location"]) == (
        "Technical Program Manager, Payments",
        "Payments",
        "Berlin",
    )
    assert (job["openings"], job["hired"]) == (2, 0)
    assert [(s["name"], s["kind"], s["position"]) for s in job["stages"]] == [
        (name, kind, position) for position, (name, kind) in enumerate(DEFAULT_STAGES, start=1)
    ]
    assert len({s["id"] for s in job["stages"]}) == 5
    assert job["opened_at"] is None and job["closed_at"] is None
    assert job["created_at"].endswith("Z")

    fetched = api.get(response.headers["Location"])
    assert fetched.status_code == 200
    assert fetched.get_json() == job
    assert fetched.headers["ETag"] == response.headers["ETag"]


def test_a_job_created_open_has_opened_at(api: Api) -> None:
    job = api.job(status="open", role="tmp")
    assert job["status"] == "open" and job["role"] == "tmp"
    assert job["opened_at"] is not None and job["closed_at"] is None


def test_custom_stages_keep_the_order_they_are_sent_in(api: Api) -> None:
    stages = [
        {"name": "Phone screen", "kind": "screen"},
        {"name": "Applied", "kind": "applied"},
        {"name": "Panel", "kind": "interview"},
    ]
    job = api.job(stages=stages)
    assert [(s["name"], s["kind"], s["position"]) for s in job["stages"]] == [
        ("Phone screen", "screen", 1),
        ("Applied", "applied", 2),
        ("Panel", "interview", 3),
    ]


def test_duplicate_stage_names_are_422(api: Api) -> None:
    stages = [{"name": "Screen", "kind": "screen"}, {"name": "Screen", "kind": "interview"}]
    response = api.post(JOBS, {"title": "T", "role": "tpm", "stages": stages})
    body = assert_problem(response, 422)
    assert any(field.startswith("stages") for field in body["errors"])
    assert api.ok(JOBS)["data"] == []


def test_at_most_20_stages(api: Api) -> None:
    stages = [{"name": f"Round {i}", "kind": "interview"} for i in range(21)]
    body = assert_problem(api.post(JOBS, {"title": "T", "role": "tpm", "stages": stages}), 422)
    assert "stages" in body["errors"]
    assert api.ok(JOBS)["data"] == []
    job = api.job(stages=stages[:20])
    assert [s["position"] for s in job["stages"]] == list(range(1, 21))


def test_a_job_for_an_unknown_role_is_404(api: Api) -> None:
    assert_problem(api.post(JOBS, {"title": "T", "role": "no-such-role"}), 404)
    assert api.ok(JOBS)["data"] == []


def test_get_an_unknown_job_is_404(api: Api) -> None:
    assert_problem(api.get(f"{JOBS}/{NOBODY}"), 404)
    assert_problem(api.get(f"{JOBS}/not-a-uuid"), 404)


def test_list_jobs_filters_by_status_role_and_q_and_pages(api: Api) -> None:
    payments = api.job(title="TPM, Payments", department="Payments", location="Berlin")
    platform = api.job(title="TMP, Platform", role="tmp", status="draft", location="Lisbon")
    search = api.job(title="TPM, Search", department="Search", location="Remote (EU)")
    assert api.set_job_status(search["id"], "closed").status_code == 200

    def ids(**query: Any) -> list[str]:
        return [j["id"] for j in api.ok(JOBS, **query)["data"]]

    everything = [payments["id"], platform["id"], search["id"]]
    assert ids() == everything
    assert ids(status="open") == [payments["id"]]
    assert ids(status="draft") == [platform["id"]]
    assert ids(status="closed") == [search["id"]]
    assert ids(status="archived") == []
    assert ids(role="tpm") == [payments["id"], search["id"]]
    assert ids(role="tmp") == [platform["id"]]
    assert ids(role="tpm", status="closed") == [search["id"]]
    assert ids(q="payments") == [payments["id"]]  # the title and department, any case
    assert ids(q="LISBON") == [platform["id"]]  # the location
    assert ids(q="remote (eu)") == [search["id"]]
    assert ids(q="tpm,") == [payments["id"], search["id"]]
    assert ids(q="nowhere") == []
    assert_problem(api.get(JOBS, status="paused"), 422)

    assert [j["id"] for j in api.walk(JOBS, limit=1)] == everything
    assert [j["id"] for j in api.walk(JOBS, limit=1, role="tpm")] == [
        payments["id"],
        search["id"],
    ]


def test_patch_job_needs_a_current_if_match(api: Api) -> None:
    job = api.job(status="draft")
    url = f"{JOBS}/{job['id']}"
    etag = api.etag(url)
    assert_problem(api.patch(url, {"title": "No precondition"}), 428)
    changed = api.patch(url, {"title": "TPM, Payments (Berlin)"}, **{"If-Match": etag})
    assert changed.status_code == 200, changed.data
    assert changed.get_json()["title"] == "TPM, Payments (Berlin)"
    assert changed.headers["ETag"] != etag
    stale = api.patch(url, {"title": "Lost update"}, **{"If-Match": etag})
    assert_problem(stale, 412)
    fetched = api.get(url)
    assert fetched.get_json()["title"] == "TPM, Payments (Berlin)"
    assert fetched.headers["ETag"] == changed.headers["ETag"]
    assert_problem(api.patch(f"{JOBS}/{NOBODY}", {"title": "x"}, **{"If-Match": etag}), 404)


# How to bring a draft job to each status, by allowed moves only.
PATH_TO = {
    "draft": [],
    "open": ["open"],
    "closed": ["open", "closed"],
    "archived": ["open", "closed", "archived"],
}
ALLOWED_MOVES = {("draft", "open"), ("open", "closed"), ("closed", "archived"), ("closed", "open")}


def test_job_status_state_machine(api: Api) -> None:
    """Every (from, to) pair of statuses: the four allowed moves succeed, every other is a 409
    naming the current status that changes nothing."""
    for start in PATH_TO:
        for target in PATH_TO:
            if start == target:
                continue
            case = f"{start} -> {target}"
            job = api.job(title=case, status="draft")
            url = f"{JOBS}/{job['id']}"
            for status in PATH_TO[start]:
                assert api.set_job_status(job["id"], status).status_code == 200, case
            before = api.get(url)
            response = api.patch(url, {"status": target}, **{"If-Match": before.headers["ETag"]})
            if (start, target) in ALLOWED_MOVES:
                assert response.status_code == 200, (case, response.data)
                assert response.get_json()["status"] == target, case
                assert response.headers["ETag"] != before.headers["ETag"], case
            else:
                body = assert_problem(response, 409)
                assert body["current_status"] == start, case
                after = api.get(url)
                assert after.get_json() == before.get_json(), case
                assert after.headers["ETag"] == before.headers["ETag"], case


def test_opened_at_and_closed_at_follow_the_status(api: Api) -> None:
    job = api.job(status="draft")
    assert job["opened_at"] is None and job["closed_at"] is None
    opened = api.set_job_status(job["id"], "open").get_json()
    assert opened["status"] == "open"
    assert opened["opened_at"] is not None and opened["closed_at"] is None
    closed = api.set_job_status(job["id"], "closed").get_json()
    assert closed["closed_at"] is not None and closed["opened_at"] is not None
    reopened = api.set_job_status(job["id"], "open").get_json()
    assert reopened["status"] == "open" and reopened["opened_at"] is not None
    assert api.set_job_status(job["id"], "closed").get_json()["closed_at"] is not None
    archived = api.set_job_status(job["id"], "archived").get_json()
    assert archived["status"] == "archived" and archived["opened_at"] is not None


def test_openings_cannot_fall_below_hired(api: Api) -> None:
    job = api.job(openings=2)
    for name in ("A", "B"):
        application = api.application(api.candidate(name)["id"], job["id"])
        api.done(application["id"], "hire")
    url = f"{JOBS}/{job['id']}"
    assert api.ok(url)["hired"] == 2
    etag = api.etag(url)
    body = assert_problem(api.patch(url, {"openings": 1}, **{"If-Match": etag}), 409)
    assert body["hired"] == 2
    assert api.etag(url) == etag
    assert api.ok(url)["openings"] == 2
    more = api.patch(url, {"openings": 3}, **{"If-Match": etag})
    assert more.status_code == 200 and more.get_json()["openings"] == 3
    assert_problem(api.patch(url, {"hired": 0}, **{"If-Match": more.headers["ETag"]}), 422)


# ============================================================================ stages


def test_put_stages_keeps_renames_reorders_adds_and_removes(api: Api) -> None:
    job = api.job()
    ids = stage_ids(job)
    url = f"{JOBS}/{job['id']}"
    screened = api.application(api.candidate("In screen")["id"], job["id"], stage=ids["Screen"])
    passed = api.application(api.candidate("Passed through")["id"], job["id"])
    api.move(passed, ids["Assessment"])
    api.move(passed, ids["Offer"])  # Assessment is empty again
    turned_down = api.application(api.candidate("Turned down")["id"], job["id"])
    api.move(turned_down, ids["Assessment"])
    api.done(turned_down["id"], "reject", {"reason": "compensation"})  # not active: no hold
    etag = api.etag(url)
    new_list = [
        {"id": ids["Applied"], "name": "Applied", "kind": "applied"},
        {"id": ids["Interview"], "name": "Panel interview", "kind": "interview"},
        {"id": ids["Screen"], "name": "Phone screen", "kind": "screen"},
        {"name": "Take-home", "kind": "assessment"},
        {"id": ids["Offer"], "name": "Offer", "kind": "offer"},
    ]  # Assessment (empty) is left out
    assert_problem(api.put(f"{url}/stages", {"stages": new_list}), 428)
    response = api.put(f"{url}/stages", {"stages": new_list}, **{"If-Match": etag})
    assert response.status_code == 200, response.data
    assert response.headers["ETag"] != etag
    stages = response.get_json()["stages"]
    assert [(s["name"], s["kind"], s["position"]) for s in stages] == [
        ("Applied", "applied", 1),
        ("Panel interview", "interview", 2),
        ("Phone screen", "screen", 3),
        ("Take-home", "assessment", 4),
        ("Offer", "offer", 5),
    ]
    assert [s["id"] for s in stages][:3] == [ids["Applied"], ids["Interview"], ids["Screen"]]
    assert stages[4]["id"] == ids["Offer"]
    assert stages[3]["id"] not in ids.values()
    assert ids["Assessment"] not in {s["id"] for s in stages}
    fetched = api.get(url)
    assert fetched.get_json()["stages"] == stages
    assert fetched.headers["ETag"] == response.headers["ETag"]
    # The application kept its stage, which now shows its new name and place.
    assert api.ok(f"{APPLICATIONS}/{screened['id']}")["stage"] == stages[2]
    # The job's ranked view shows each application as it reads alone: a rejected one still in
    # the removed stage, with its reason's type.
    listed = api.ok(f"{url}/applications")["data"]
    assert len(listed) == 3
    for item in listed:
        assert {k: v for k, v in item.items() if k != "candidate"} == api.ok(
            f"{APPLICATIONS}/{item['id']}"
        )
    shown = {item["id"]: item for item in listed}
    assert shown[screened["id"]]["stage"] == stages[2]
    assert shown[turned_down["id"]]["stage"]["id"] == ids["Assessment"]
    assert shown[turned_down["id"]]["rejection"]["type"] == "candidate_withdrew"
    # The removed stage is gone for new applications and moves.
    other = api.candidate("Late")["id"]
    assert_problem(api.apply(other, job["id"], stage=ids["Assessment"]), 404)
    refused = api.act(
        screened["id"], "move", {"from_stage": ids["Screen"], "to_stage": ids["Assessment"]}
    )
    assert_problem(refused, 404)
    # The history still names the removed stage.
    history = api.transitions(passed["id"])
    assert history[1]["to_stage"]["id"] == history[2]["from_stage"]["id"] == ids["Assessment"]
    assert history[1]["to_stage"]["name"] == "Assessment"
    # A stale ETag of the job is a 412.
    assert_problem(api.put(f"{url}/stages", {"stages": new_list}, **{"If-Match": etag}), 412)


def test_removing_a_stage_that_holds_active_applications_is_409(api: Api) -> None:
    job = api.job()
    ids = stage_ids(job)
    url = f"{JOBS}/{job['id']}"
    for name in ("One", "Two"):
        api.application(api.candidate(name)["id"], job["id"], stage=ids["Interview"])
    before = api.get(url)
    without_interview = [
        {"id": s["id"], "name": s["name"], "kind": s["kind"]}
        for s in job["stages"]
        if s["name"] != "Interview"
    ]
    response = api.put(
        f"{url}/stages", {"stages": without_interview}, **{"If-Match": before.headers["ETag"]}
    )
    body = assert_problem(response, 409)
    assert body["active_applications"] == 2
    after = api.get(url)
    assert after.get_json() == before.get_json()
    assert after.headers["ETag"] == before.headers["ETag"]


def test_put_stages_with_a_stage_id_that_is_not_the_jobs_is_404(api: Api) -> None:
    job, other = api.job(), api.job(title="Another")
    url = f"{JOBS}/{job['id']}"
    before = api.get(url)
    kept = [{"id": s["id"], "name": s["name"], "kind": s["kind"]} for s in job["stages"]]
    for foreign in (other["stages"][0]["id"], NOBODY):
        stages = [*kept, {"id": foreign, "name": "Borrowed", "kind": "offer"}]
        response = api.put(
            f"{url}/stages", {"stages": stages}, **{"If-Match": before.headers["ETag"]}
        )
        assert_problem(response, 404)
    assert api.get(url).get_json() == before.get_json()
    assert_problem(api.put(f"{JOBS}/{NOBODY}/stages", {"stages": kept}, **{"If-Match": '"1"'}), 404)


def test_a_stage_id_sent_twice_is_422_and_changes_nothing(api: Api) -> None:
    job = api.job()
    url = f"{JOBS}/{job['id']}"
    before = api.get(url)
    first = job["stages"][0]["id"]
    stages = [
        {"id": first, "name": "Applied", "kind": "applied"},
        {"id": first, "name": "Applied again", "kind": "screen"},
    ]
    response = api.put(f"{url}/stages", {"stages": stages}, **{"If-Match": before.headers["ETag"]})
    assert_problem(response, 422)
    after = api.get(url)
    assert after.get_json() == before.get_json()
    assert [s["position"] for s in after.get_json()["stages"]] == [1, 2, 3, 4, 5]


# ============================================================================ rejection reasons


def test_the_builtin_rejection_reasons_are_listed_by_key(api: Api) -> None:
    body = api.ok(REASONS)
    assert [(r["key"], r["type"]) for r in body["data"]] == list(BUILTIN_REASONS.items())
    assert all(r["active"] is True and r["name"] for r in body["data"])
    assert [r["key"] for r in api.walk(REASONS, limit=4)] == list(BUILTIN_REASONS)


def test_create_and_get_a_rejection_reason_and_a_duplicate_is_409(api: Api) -> None:
    reason = {"key": "failed-reference", "name": "References did not check out", "type": "other"}
    response = api.post(REASONS, reason)
    assert response.status_code == 201, response.data
    assert response.get_json() == {**reason, "active": True}
    assert response.headers["Location"] == f"{REASONS}/failed-reference"
    assert response.headers["ETag"]
    fetched = api.get(response.headers["Location"])
    assert fetched.get_json() == {**reason, "active": True}
    assert fetched.headers["ETag"] == response.headers["ETag"]
    assert_problem(api.post(REASONS, {**reason, "name": "Again"}), 409)
    assert_problem(api.post(REASONS, {"key": "other", "name": "x", "type": "other"}), 409)
    assert api.ok(f"{REASONS}/failed-reference")["name"] == "References did not check out"
    assert_problem(api.get(f"{REASONS}/no-such-reason"), 404)
    keys = [r["key"] for r in api.ok(REASONS)["data"]]
    assert keys == sorted([*BUILTIN_REASONS, "failed-reference"])


def test_patch_a_reason_and_a_retired_reason_cannot_reject(api: Api) -> None:
    url = f"{REASONS}/compensation"
    etag = api.etag(url)
    assert_problem(api.patch(url, {"name": "Pay"}), 428)
    renamed = api.patch(url, {"name": "Pay expectations"}, **{"If-Match": etag})
    assert renamed.status_code == 200, renamed.data
    assert renamed.get_json() == {
        "key": "compensation",
        "name": "Pay expectations",
        "type": "candidate_withdrew",
        "active": True,
    }
    assert renamed.headers["ETag"] != etag
    assert_problem(api.patch(url, {"active": False}, **{"If-Match": etag}), 412)
    retired = api.patch(url, {"active": False}, **{"If-Match": renamed.headers["ETag"]})
    assert retired.status_code == 200 and retired.get_json()["active"] is False
    # still listed, inactive
    listed = {r["key"]: r for r in api.ok(REASONS)["data"]}
    assert listed["compensation"]["active"] is False

    job = api.job()
    application = api.application(api.candidate("Asks a lot")["id"], job["id"])
    before = api.etag(f"{APPLICATIONS}/{application['id']}")
    body = assert_problem(api.act(application["id"], "reject", {"reason": "compensation"}), 409)
    assert "retired" in body["detail"]
    assert api.etag(f"{APPLICATIONS}/{application['id']}") == before
    assert [t["kind"] for t in api.transitions(application["id"])] == ["created"]


# ============================================================================ applications


def test_create_application_in_the_first_stage_with_source_and_the_stored_match(
    api: Api, strong: Callable[[str], dict[str, Any]]
) -> None:
    job = api.job()
    candidate = strong("Grace Hopper")
    response = api.apply(
        candidate["id"], job["id"], source={"channel": "referral", "detail": "Ada referred her"}
    )
    assert response.status_code == 201, response.data
    application = response.get_json()
    assert response.headers["Location"] == f"{APPLICATIONS}/{application['id']}"
    assert response.headers["ETag"]
    assert application["candidate_id"] == candidate["id"]
    assert application["job_id"] == job["id"]
    assert application["status"] == "active"
    assert application["stage"] == job["stages"][0]
    assert application["source"] == {"channel": "referral", "detail": "Ada referred her"}
    assert application["rejection"] is None
    assert application["rejected_at"] is None and application["hired_at"] is None
    assert application["applied_at"].endswith("Z")

    stored = api.stored_match(candidate["id"])
    assert {f: application["match"][f] for f in MATCH_FIELDS} == {
        f: stored[f] for f in MATCH_FIELDS
    }
    ranking = api.ok("/v1/roles/tpm/matches")["data"]
    ranked = next(r for r in ranking if r["candidate"]["id"] == candidate["id"])
    assert application["match"]["score"] == ranked["score"]
    assert application["match"]["must_haves_met"] is True

    fetched = api.get(response.headers["Location"])
    assert fetched.get_json() == application
    assert fetched.headers["ETag"] == response.headers["ETag"]


def test_the_match_is_for_the_jobs_role_and_never_stale(api: Api) -> None:
    candidate = api.candidate(
        "Katherine Johnson", [{"competency": "strategic-alignment", "level": 3}]
    )
    job = api.job(role="tmp")
    application = api.application(candidate["id"], job["id"])
    assert application["source"] == {"channel": "applied", "detail": None}
    tmp = api.stored_match(candidate["id"], "tmp")
    assert application["match"]["score"] == tmp["score"]
    assert application["match"]["role_version"] == tmp["role_version"]
    # New records rescore the candidate: the application shows the new stored match.
    url = f"/v1/candidates/{candidate['id']}/competencies"
    records = [{"competency": "strategic-alignment", "level": 5, "evidence": "assessment"}]
    etag = api.etag(f"/v1/candidates/{candidate['id']}")
    assert api.put(url, {"competencies": records}, **{"If-Match": etag}).status_code == 200
    rescored = api.stored_match(candidate["id"], "tmp")
    assert rescored["score"] > tmp["score"]
    shown = api.ok(f"{APPLICATIONS}/{application['id']}")["match"]
    assert {f: shown[f] for f in MATCH_FIELDS} == {f: rescored[f] for f in MATCH_FIELDS}


def test_applications_need_an_open_job(api: Api) -> None:
    candidate = api.candidate("Early bird")
    for status in ("draft", "closed", "archived"):
        job = api.job(status="draft")
        for step in PATH_TO[status]:
            assert api.set_job_status(job["id"], step).status_code == 200
        assert_problem(api.apply(candidate["id"], job["id"]), 409)
        assert api.ok(APPLICATIONS, job_id=job["id"])["data"] == [], status
    assert api.ok(APPLICATIONS)["data"] == []


def test_a_closed_job_still_decides_and_an_archived_one_is_frozen(api: Api) -> None:
    job = api.job()
    first, second, third = (
        api.application(api.candidate(name)["id"], job["id"]) for name in ("Ada", "Bo", "Cy")
    )
    assert api.set_job_status(job["id"], "closed").status_code == 200
    # A closed job's last applicants are still rejected, hired or moved.
    api.done(first["id"], "reject", {"reason": "position-filled"})
    api.done(second["id"], "hire")
    assert api.set_job_status(job["id"], "archived").status_code == 200
    url = f"{APPLICATIONS}/{third['id']}"
    before = api.ok(url)
    history = api.transitions(third["id"])
    for action, body in (("reject", {"reason": "position-filled"}), ("hire", {})):
        problem = assert_problem(api.act(third["id"], action, body), 409)
        assert problem["job_status"] == "archived", problem
    assert_problem(api.act(first["id"], "unreject"), 409)
    assert api.ok(url) == before
    assert api.transitions(third["id"]) == history


def test_an_unknown_candidate_or_job_is_404(api: Api) -> None:
    job = api.job()
    candidate = api.candidate("Real")
    assert_problem(api.apply(NOBODY, job["id"]), 404)
    assert_problem(api.apply(candidate["id"], NOBODY), 404)
    assert api.ok(APPLICATIONS)["data"] == []


def test_a_second_active_application_to_the_same_job_is_409_naming_it(api: Api) -> None:
    job = api.job()
    candidate = api.candidate("Keen")
    first = api.application(candidate["id"], job["id"])
    body = assert_problem(api.apply(candidate["id"], job["id"]), 409)
    assert body["existing_id"] == first["id"]
    # Another job is fine, and so is a new application once the first is no longer active.
    api.application(candidate["id"], api.job(title="Another")["id"])
    api.done(first["id"], "reject", {"reason": "weaker-than-others"})
    second = api.application(candidate["id"], job["id"])
    assert second["id"] != first["id"]
    listed = api.ok(APPLICATIONS, job_id=job["id"])["data"]
    assert [(a["id"], a["status"]) for a in listed] == [
        (first["id"], "rejected"),
        (second["id"], "active"),
    ]


def test_applied_at_may_be_past_but_not_future(api: Api) -> None:
    job = api.job()
    candidate = api.candidate("Time traveller")
    future = (datetime.now(UTC) + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    body = assert_problem(api.apply(candidate["id"], job["id"], applied_at=future), 422)
    assert "applied_at" in body["errors"]
    assert api.ok(APPLICATIONS)["data"] == []
    past = ago(days=3)
    application = api.application(candidate["id"], job["id"], applied_at=past)
    assert application["applied_at"] == past
    created = api.transitions(application["id"])[0]
    assert created["occurred_at"] == past


def test_an_application_can_start_in_a_named_stage_of_the_job(api: Api) -> None:
    job, other = api.job(), api.job(title="Other")
    ids = stage_ids(job)
    candidate = api.candidate("Sourced")
    assert_problem(api.apply(candidate["id"], job["id"], stage=other["stages"][1]["id"]), 404)
    assert_problem(api.apply(candidate["id"], job["id"], stage=NOBODY), 404)
    application = api.application(
        candidate["id"], job["id"], stage=ids["Interview"], source={"channel": "sourced"}
    )
    assert application["stage"]["id"] == ids["Interview"]
    assert application["source"] == {"channel": "sourced", "detail": None}
    (created,) = api.transitions(application["id"])
    assert created["kind"] == "created" and created["from_stage"] is None
    assert created["to_stage"]["id"] == ids["Interview"]


def test_a_batch_of_applications_gives_one_result_per_item(api: Api) -> None:
    job = api.job()
    ada, bob, cy = (api.candidate(n)["id"] for n in ("Ada", "Bob", "Cy"))
    taken = api.application(cy, job["id"])
    items = [
        {"candidate_id": ada, "job_id": job["id"], "source": {"channel": "agency"}},
        {"candidate_id": NOBODY, "job_id": job["id"]},
        {"candidate_id": bob, "job_id": job["id"], "stage": job["stages"][2]["id"]},
        {"candidate_id": cy, "job_id": job["id"]},  # Cy already has an active one
    ]
    response = api.post(f"{APPLICATIONS}/batch", {"applications": items})
    assert response.status_code == 200, response.data
    results = response.get_json()["results"]
    assert [(r["index"], r["status"]) for r in results] == [(0, 201), (1, 404), (2, 201), (3, 409)]
    assert results[3]["problem"]["existing_id"] == taken["id"]
    created = [taken["id"], results[0]["id"], results[2]["id"]]
    listed = api.ok(APPLICATIONS, job_id=job["id"])["data"]
    assert [a["id"] for a in listed] == created
    assert listed[1]["source"]["channel"] == "agency"
    assert listed[2]["stage"]["id"] == job["stages"][2]["id"]
    assert [t["kind"] for t in api.transitions(results[0]["id"])] == ["created"]


def test_get_an_unknown_application_is_404(api: Api) -> None:
    assert_problem(api.get(f"{APPLICATIONS}/{NOBODY}"), 404)
    assert_problem(api.get(f"{APPLICATIONS}/nope"), 404)
    assert_problem(api.get(f"{APPLICATIONS}/{NOBODY}/transitions"), 404)


def test_list_applications_filters_and_pages(api: Api) -> None:
    job_a, job_b = api.job(title="A"), api.job(title="B")
    ids = stage_ids(job_a)
    ada, bob, cy = (api.candidate(n)["id"] for n in ("Ada", "Bob", "Cy"))
    a1 = api.application(ada, job_a["id"])
    a2 = api.application(bob, job_a["id"], stage=ids["Screen"])
    a3 = api.application(cy, job_a["id"])
    b1 = api.application(ada, job_b["id"])
    api.done(a3["id"], "reject", {"reason": "other"})

    def ids_of(**query: Any) -> list[str]:
        return [a["id"] for a in api.ok(APPLICATIONS, **query)["data"]]

    everything = [a1["id"], a2["id"], a3["id"], b1["id"]]
    assert ids_of() == everything
    assert ids_of(job_id=job_a["id"]) == [a1["id"], a2["id"], a3["id"]]
    assert ids_of(job_id=job_b["id"]) == [b1["id"]]
    assert ids_of(candidate_id=ada) == [a1["id"], b1["id"]]
    assert ids_of(status="rejected") == [a3["id"]]
    assert ids_of(status="active", job_id=job_a["id"]) == [a1["id"], a2["id"]]
    assert ids_of(status="hired") == []
    assert ids_of(stage=ids["Screen"]) == [a2["id"]]
    assert ids_of(stage=ids["Applied"]) == [a1["id"], a3["id"]]
    assert ids_of(updated_after=ago(days=1)) == everything
    assert [a["id"] for a in api.walk(APPLICATIONS, limit=1)] == everything
    assert [a["id"] for a in api.walk(APPLICATIONS, limit=2, job_id=job_a["id"])] == [
        a1["id"],
        a2["id"],
        a3["id"],
    ]
    assert_problem(api.get(APPLICATIONS, status="pending"), 422)


def test_a_candidates_applications(api: Api) -> None:
    ada, bob = api.candidate("Ada")["id"], api.candidate("Bob")["id"]
    jobs = [api.job(title=f"Job {i}")["id"] for i in range(3)]
    mine = [api.application(ada, j)["id"] for j in jobs]
    api.application(bob, jobs[0])
    body = api.ok(f"/v1/candidates/{ada}/applications")
    assert [a["id"] for a in body["data"]] == mine
    assert all(a["candidate_id"] == ada for a in body["data"])
    assert [a["id"] for a in api.walk(f"/v1/candidates/{ada}/applications", limit=2)] == mine
    assert_problem(api.get(f"/v1/candidates/{NOBODY}/applications"), 404)


# ============================================================================ actions


def test_move_may_skip_stages_and_go_backwards(api: Api) -> None:
    job = api.job()
    ids = stage_ids(job)
    application = api.application(api.candidate("Mover")["id"], job["id"])
    skipped = api.move(application, ids["Interview"], note="great screen call")
    assert skipped["status"] == "active"
    assert skipped["stage"]["id"] == ids["Interview"]
    back = api.move(application, ids["Screen"])
    assert back["stage"]["id"] == ids["Screen"]
    moves = api.transitions(application["id"])[1:]
    assert [(t["from_stage"]["id"], t["to_stage"]["id"]) for t in moves] == [
        (ids["Applied"], ids["Interview"]),
        (ids["Interview"], ids["Screen"]),
    ]
    assert moves[0]["note"] == "great screen call" and moves[1]["note"] is None


def test_a_move_from_a_stage_it_is_no_longer_in_is_a_stage_conflict(api: Api) -> None:
    job = api.job()
    ids = stage_ids(job)
    application = api.application(api.candidate("Contested")["id"], job["id"])
    api.move(application, ids["Screen"])  # a first recruiter moves it on
    url = f"{APPLICATIONS}/{application['id']}"
    before = api.get(url)
    # A second recruiter, who saw it in Applied, tries to move it to Assessment.
    response = api.act(
        application["id"],
        "move",
        {"from_stage": ids["Applied"], "to_stage": ids["Assessment"]},
        before.headers["ETag"],
    )
    body = assert_problem(response, 409)
    assert body["type"].endswith("stage-conflict")
    assert body["current_stage"] == ids["Screen"]
    after = api.get(url)
    assert after.get_json() == before.get_json()
    assert after.headers["ETag"] == before.headers["ETag"]
    assert len(api.transitions(application["id"])) == 2


def test_a_move_to_a_stage_of_another_job_is_404(api: Api) -> None:
    job, other = api.job(), api.job(title="Other")
    application = api.application(api.candidate("Lost")["id"], job["id"])
    current = job["stages"][0]["id"]
    before = api.etag(f"{APPLICATIONS}/{application['id']}")
    for to_stage in (other["stages"][2]["id"], NOBODY):
        response = api.act(application["id"], "move", {"from_stage": current, "to_stage": to_stage})
        assert_problem(response, 404)
    assert api.etag(f"{APPLICATIONS}/{application['id']}") == before
    assert len(api.transitions(application["id"])) == 1
    assert_problem(
        api.act(application["id"], "move", {"to_stage": current}),
        422,
    )


def test_reject_keeps_the_stage_and_records_the_rejection(api: Api) -> None:
    job = api.job()
    ids = stage_ids(job)
    application = api.application(api.candidate("Withdrawn")["id"], job["id"])
    api.move(application, ids["Assessment"])
    rejected = api.done(
        application["id"], "reject", {"reason": "candidate-withdrew", "note": "took another offer"}
    )
    assert rejected["status"] == "rejected"
    assert rejected["stage"]["id"] == ids["Assessment"]
    assert rejected["rejection"] == {
        "reason": "candidate-withdrew",
        "type": "candidate_withdrew",
        "note": "took another offer",
    }
    assert rejected["rejected_at"] is not None
    last = api.transitions(application["id"])[-1]
    assert (last["kind"], last["reason"], last["note"]) == (
        "rejected",
        "candidate-withdrew",
        "took another offer",
    )


def test_reject_needs_a_known_reason(api: Api) -> None:
    job = api.job()
    application = api.application(api.candidate("Pending")["id"], job["id"])
    url = f"{APPLICATIONS}/{application['id']}"
    before = api.etag(url)
    body = assert_problem(api.act(application["id"], "reject", {"note": "no reason"}), 422)
    assert "reason" in body["errors"]
    assert_problem(api.act(application["id"], "reject", {"reason": "no-such-reason"}), 404)
    assert api.etag(url) == before
    assert api.ok(url)["status"] == "active"
    assert len(api.transitions(application["id"])) == 1


def test_unreject_brings_it_back_active_in_the_same_stage(api: Api) -> None:
    job = api.job()
    ids = stage_ids(job)
    application = api.application(api.candidate("Second chance")["id"], job["id"])
    api.move(application, ids["Interview"])
    api.done(application["id"], "reject", {"reason": "weaker-than-others"})
    back = api.done(application["id"], "unreject", {"note": "the other candidate declined"})
    assert back["status"] == "active"
    assert back["stage"]["id"] == ids["Interview"]
    assert back["rejection"] is None
    last = api.transitions(application["id"])[-1]
    assert last["kind"] == "unrejected"
    assert (last["from_status"], last["to_status"]) == ("rejected", "active")
    assert last["from_stage"]["id"] == last["to_stage"]["id"] == ids["Interview"]


def test_hire_and_unhire_count_on_the_job(api: Api) -> None:
    job = api.job(openings=2)
    ids = stage_ids(job)
    job_url = f"{JOBS}/{job['id']}"
    application = api.application(api.candidate("Hire me")["id"], job["id"])
    api.move(application, ids["Offer"])
    job_etag = api.etag(job_url)
    hired = api.done(application["id"], "hire", {"note": "signed"})
    assert hired["status"] == "hired"
    assert hired["stage"]["id"] == ids["Offer"]
    assert hired["hired_at"] is not None
    assert api.ok(job_url)["hired"] == 1
    assert api.etag(job_url) != job_etag  # hired is part of the job
    unhired = api.done(application["id"], "unhire", {"note": "offer withdrawn"})
    assert unhired["status"] == "active"
    assert unhired["stage"]["id"] == ids["Offer"]
    assert api.ok(job_url)["hired"] == 0
    kinds = [
        (t["kind"], t["from_status"], t["to_status"]) for t in api.transitions(application["id"])
    ]
    assert kinds[-2:] == [("hired", "active", "hired"), ("unhired", "hired", "active")]


def test_a_hire_beyond_the_openings_is_409_and_writes_nothing(api: Api) -> None:
    job = api.job(openings=1)
    job_url = f"{JOBS}/{job['id']}"
    first = api.application(api.candidate("First")["id"], job["id"])
    second = api.application(api.candidate("Second")["id"], job["id"])
    api.done(first["id"], "hire")
    job_before = api.get(job_url)
    url = f"{APPLICATIONS}/{second['id']}"
    before = api.get(url)
    assert_problem(api.act(second["id"], "hire"), 409)
    after = api.get(url)
    assert after.get_json() == before.get_json()
    assert after.headers["ETag"] == before.headers["ETag"]
    assert len(api.transitions(second["id"])) == 1
    assert api.get(job_url).get_json() == job_before.get_json()
    assert api.ok(job_url)["hired"] == 1
    # Once the first is unhired the opening is free again.
    api.done(first["id"], "unhire")
    assert api.done(second["id"], "hire")["status"] == "hired"
    assert api.ok(job_url)["hired"] == 1


@pytest.mark.parametrize("action", ["unreject", "unhire"])
def test_coming_back_active_beside_another_active_application_is_409_naming_it(
    api: Api, action: str
) -> None:
    job = api.job(openings=2)
    candidate = api.candidate("Reapplied")["id"]
    first = api.application(candidate, job["id"])
    leave = ("reject", {"reason": "other"}) if action == "unreject" else ("hire", {})
    api.done(first["id"], *leave)
    second = api.application(candidate, job["id"])
    url = f"{APPLICATIONS}/{first['id']}"
    before = api.get(url)
    body = assert_problem(api.act(first["id"], action, {}, before.headers["ETag"]), 409)
    assert body["existing_id"] == second["id"]
    assert api.get(url).headers["ETag"] == before.headers["ETag"]
    assert len(api.transitions(first["id"])) == 2


def _bring_to(api: Api, application: dict[str, Any], status: str) -> None:
    if status == "rejected":
        api.done(application["id"], "reject", {"reason": "other"})
    elif status == "hired":
        api.done(application["id"], "hire")


ACTION_ALLOWED_FROM = {
    "move": "active",
    "reject": "active",
    "unreject": "rejected",
    "hire": "active",
    "unhire": "hired",
}
ACTION_KIND = {
    "move": "moved",
    "reject": "rejected",
    "unreject": "unrejected",
    "hire": "hired",
    "unhire": "unhired",
}
ACTION_RESULT = {
    "move": "active",
    "reject": "rejected",
    "unreject": "active",
    "hire": "hired",
    "unhire": "active",
}


def _body_for(action: str, ids: dict[str, str]) -> dict[str, Any]:
    """A body that would be valid for ``action`` on an application in Applied."""
    return {
        "move": {"from_stage": ids["Applied"], "to_stage": ids["Screen"]},
        "reject": {"reason": "other", "note": "n"},
    }.get(action, {"note": "n"})


def test_an_action_from_a_wrong_status_is_409_naming_it_and_writes_nothing(api: Api) -> None:
    """Every refused row of the action table (10 of them)."""
    refused = [
        (action, status)
        for action, allowed in ACTION_ALLOWED_FROM.items()
        for status in ("active", "rejected", "hired")
        if status != allowed
    ]
    assert len(refused) == 10
    for action, status in refused:
        case = f"{action} from {status}"
        job = api.job(title=case, openings=3)
        application = api.application(api.candidate(case)["id"], job["id"])
        _bring_to(api, application, status)
        url = f"{APPLICATIONS}/{application['id']}"
        job_url = f"{JOBS}/{job['id']}"
        before, job_before = api.get(url), api.get(job_url)
        history = api.transitions(application["id"])
        body = _body_for(action, stage_ids(job))
        response = api.act(application["id"], action, body, before.headers["ETag"])
        problem = assert_problem(response, 409)
        assert problem["current_status"] == status, case
        after = api.get(url)
        assert after.get_json() == before.get_json(), case
        assert after.headers["ETag"] == before.headers["ETag"], case
        assert api.transitions(application["id"]) == history, case
        assert api.get(job_url).get_json() == job_before.get_json(), case


def test_every_action_is_allowed_from_its_row_of_the_table(api: Api) -> None:
    for action, status in ACTION_ALLOWED_FROM.items():
        case = f"{action} from {status}"
        job = api.job(title=case)
        ids = stage_ids(job)
        application = api.application(api.candidate(case)["id"], job["id"])
        _bring_to(api, application, status)
        body = _body_for(action, ids)
        result = api.done(application["id"], action, body)
        assert result["status"] == ACTION_RESULT[action], case
        assert result["stage"]["id"] == ids["Screen" if action == "move" else "Applied"], case
        last = api.transitions(application["id"])[-1]
        assert (last["kind"], last["from_status"], last["to_status"]) == (
            ACTION_KIND[action],
            status,
            ACTION_RESULT[action],
        ), case


def test_missing_must_have_is_refused_when_the_match_meets_every_must_have(
    api: Api,
    strong: Callable[[str], dict[str, Any]],
    weak: Callable[[str], dict[str, Any]],
) -> None:
    job = api.job()
    qualified = api.application(strong("Qualified")["id"], job["id"])
    url = f"{APPLICATIONS}/{qualified['id']}"
    before = api.get(url)
    response = api.act(
        qualified["id"], "reject", {"reason": "missing-must-have"}, before.headers["ETag"]
    )
    assert_problem(response, 409)
    assert api.get(url).headers["ETag"] == before.headers["ETag"]
    assert api.ok(url)["status"] == "active"
    assert len(api.transitions(qualified["id"])) == 1
    # Another reason is fine for the same candidate.
    assert api.done(qualified["id"], "reject", {"reason": "weaker-than-others"})["status"] == (
        "rejected"
    )

    unqualified = api.application(weak("Unqualified")["id"], job["id"])
    assert unqualified["match"]["must_haves_met"] is False
    rejected = api.done(unqualified["id"], "reject", {"reason": "missing-must-have"})
    assert rejected["rejection"]["reason"] == "missing-must-have"
    assert rejected["rejection"]["type"] == "we_rejected"
    last = api.transitions(unqualified["id"])[-1]
    assert last["reason"] == "missing-must-have"
    assert last["match"]["must_haves_met"] is False


def test_actions_need_a_current_if_match(api: Api) -> None:
    for action, status in ACTION_ALLOWED_FROM.items():
        job = api.job(title=action)
        application = api.application(api.candidate(action)["id"], job["id"])
        _bring_to(api, application, status)
        url = f"{APPLICATIONS}/{application['id']}"
        body = _body_for(action, stage_ids(job))
        current = api.get(url)
        assert_problem(api.post(f"{url}/{action}", body), 428)
        assert_problem(api.act(application["id"], action, body, '"0"'), 412)
        after = api.get(url)
        assert after.get_json() == current.get_json(), action
        assert after.headers["ETag"] == current.headers["ETag"], action
        assert_problem(api.act(NOBODY, action, body, '"1"'), 404)


def test_an_etag_goes_stale_after_an_action(api: Api) -> None:
    job = api.job()
    ids = stage_ids(job)
    application = api.application(api.candidate("Twice")["id"], job["id"])
    etag = api.etag(f"{APPLICATIONS}/{application['id']}")
    body = {"from_stage": ids["Applied"], "to_stage": ids["Screen"]}
    first = api.act(application["id"], "move", body, etag)
    assert first.status_code == 200
    again = {"from_stage": ids["Screen"], "to_stage": ids["Interview"]}
    assert_problem(api.act(application["id"], "move", again, etag), 412)
    assert api.act(application["id"], "move", again, first.headers["ETag"]).status_code == 200


# ============================================================================ transitions


def test_transitions_are_the_whole_history_oldest_first(
    api: Api, make_key: Callable[..., str]
) -> None:
    token = make_key("recruiter", name="Rita Recruiter")
    rita = Api(api.client, bearer(token))
    job = rita.job()
    ids = stage_ids(job)
    candidate = rita.candidate("Ada Lovelace")
    application = rita.application(candidate["id"], job["id"])
    rita.move(application, ids["Assessment"], note="skip the screen")
    rita.done(application["id"], "reject", {"reason": "weaker-than-others", "note": "close call"})
    rita.done(application["id"], "unreject", {"note": "reconsidered"})
    rita.move(application, ids["Offer"])
    rita.done(application["id"], "hire")
    rita.done(application["id"], "unhire", {"note": "background check"})

    history = rita.transitions(application["id"])
    stages = {s["id"]: s for s in job["stages"]}
    expected = [
        # kind, from stage, to stage, from status, to status, reason, note
        ("created", None, "Applied", None, "active", None, None),
        ("moved", "Applied", "Assessment", "active", "active", None, "skip the screen"),
        ("rejected", "Assessment", "Assessment", "active", "rejected", "weaker-than-others",
         "close call"),
        ("unrejected", "Assessment", "Assessment", "rejected", "active", None, "reconsidered"),
        ("moved", "Assessment", "Offer", "active", "active", None, None),
        ("hired", "Offer", "Offer", "active", "hired", None, None),
        ("unhired", "Offer", "Offer", "hired", "active", None, "background check"),
    ]  # fmt: skip
    assert [t["seq"] for t in history] == list(range(1, 8))
    for t, (kind, from_stage, to_stage, from_status, to_status, reason, note) in zip(
        history, expected, strict=True
    ):
        assert t["kind"] == kind
        assert t["application_id"] == application["id"] and t["job_id"] == job["id"]
        assert t["from_stage"] == (stages[ids[from_stage]] if from_stage else None)
        assert t["to_stage"] == stages[ids[to_stage]]
        assert (t["from_status"], t["to_status"]) == (from_status, to_status)
        assert (t["reason"], t["note"]) == (reason, note)
        assert t["actor"] == {"key_id": key_id_of(token), "name": "Rita Recruiter"}
        stored = rita.stored_match(candidate["id"])
        assert {f: t["match"][f] for f in (*MATCH_FIELDS, "inputs_hash")} == {
            f: stored[f] for f in (*MATCH_FIELDS, "inputs_hash")
        }
    times = [t["occurred_at"] for t in history]
    assert times == sorted(times)
    assert len({t["id"] for t in history}) == 7


def test_a_transition_keeps_the_match_of_its_moment(api: Api, strong: Callable[..., Any]) -> None:
    job = api.job()
    ids = stage_ids(job)
    candidate = strong("Changing")
    application = api.application(candidate["id"], job["id"])
    at_creation = api.stored_match(candidate["id"])
    # The candidate's records change (an assessment went badly): the stored match changes.
    etag = api.etag(f"/v1/candidates/{candidate['id']}")
    records = [{"competency": "okrs", "level": 1}]
    response = api.put(
        f"/v1/candidates/{candidate['id']}/competencies",
        {"competencies": records},
        **{"If-Match": etag},
    )
    assert response.status_code == 200, response.data
    later = api.stored_match(candidate["id"])
    assert later["inputs_hash"] != at_creation["inputs_hash"]
    assert later["must_haves_met"] is False
    api.move(application, ids["Screen"])
    created, moved = api.transitions(application["id"])
    for transition, match in ((created, at_creation), (moved, later)):
        for field in (*MATCH_FIELDS, "inputs_hash"):
            assert transition["match"][field] == match[field], field
    # The application itself always shows the current match.
    shown = api.ok(f"{APPLICATIONS}/{application['id']}")["match"]
    assert shown["score"] == later["score"] and shown["must_haves_met"] is False


def test_the_transition_feed_is_in_written_order_filtered_and_paged(api: Api) -> None:
    job_a, job_b = api.job(title="A"), api.job(title="B")
    a_ids = stage_ids(job_a)
    # Created with applied_at in the past: their `created` transitions happened earlier than
    # they were written; the feed lists them as written, so no cursor ever passes one.
    early = api.application(api.candidate("Early")["id"], job_a["id"], applied_at=ago(days=3))
    other = api.application(api.candidate("Other job")["id"], job_b["id"], applied_at=ago(days=2))
    earliest = api.application(api.candidate("Earliest")["id"], job_a["id"], applied_at=ago(days=4))
    api.move(early, a_ids["Screen"])
    api.done(earliest["id"], "reject", {"reason": "other"})
    api.done(other["id"], "hire")
    api.done(early["id"], "hire")

    feed = api.ok(TRANSITIONS, limit=200)
    everything = feed["data"]
    assert feed["next_cursor"] is None
    assert len(everything) == 7
    assert [(t["application_id"], t["kind"]) for t in everything[:3]] == [
        (early["id"], "created"),
        (other["id"], "created"),
        (earliest["id"], "created"),
    ]
    assert [t["kind"] for t in everything[3:]] == ["moved", "rejected", "hired", "hired"]
    assert everything[2]["occurred_at"] < everything[0]["occurred_at"]  # the backdated one

    walked = api.walk(TRANSITIONS, limit=2)
    assert [t["id"] for t in walked] == [t["id"] for t in everything]
    assert walked == everything

    def ids_of(**query: Any) -> list[str]:
        return [t["id"] for t in api.walk(TRANSITIONS, limit=2, **query)]

    assert ids_of(job_id=job_b["id"]) == [t["id"] for t in everything if t["job_id"] == job_b["id"]]
    assert ids_of(job_id=job_a["id"]) == [t["id"] for t in everything if t["job_id"] == job_a["id"]]
    assert ids_of(kind="hired") == [t["id"] for t in everything if t["kind"] == "hired"]
    assert ids_of(kind="created", job_id=job_a["id"]) == [
        everything[0]["id"],
        everything[2]["id"],
    ]
    assert ids_of(occurred_after=ago(days=1)) == [t["id"] for t in everything[3:]]
    backdated = {everything[0]["id"], everything[2]["id"]}  # early's and earliest's creations
    assert ids_of(occurred_after=ago(days=3, seconds=-1)) == [
        t["id"] for t in everything if t["id"] not in backdated
    ]

    # A reader that kept the last cursor sees a backdated application created afterwards.
    last = api.ok(TRANSITIONS, limit=len(everything))
    cursor = api.ok(TRANSITIONS, limit=len(everything) - 1)["next_cursor"]
    assert last["next_cursor"] is None and cursor is not None
    late = api.application(api.candidate("Late")["id"], job_a["id"], applied_at=ago(days=9))
    after = api.ok(TRANSITIONS, cursor=cursor)["data"]
    assert [t["application_id"] for t in after] == [early["id"], late["id"]]
    assert_problem(api.get(TRANSITIONS, kind="teleported"), 422)


# ============================================================================ a job's applications


def test_a_jobs_applications_are_ranked_filtered_and_paged(
    api: Api,
    strong: Callable[[str], dict[str, Any]],
    weak: Callable[[str], dict[str, Any]],
) -> None:
    job = api.job()
    ids = stage_ids(job)
    people = [
        strong("Strong one"),
        weak("Broad but missing"),
        api.candidate("Blank"),
        strong("Strong two"),  # the same records as Strong one: a tie broken by id
        api.candidate("Partly", [{"competency": "project-lifecycle", "level": 3}]),
    ]
    applications = {p["id"]: api.application(p["id"], job["id"]) for p in people}
    by_name = {p["name"]: applications[p["id"]] for p in people}
    api.move(by_name["Blank"], ids["Screen"])
    api.done(by_name["Partly"]["id"], "reject", {"reason": "weaker-than-others"})
    api.application(api.candidate("Elsewhere")["id"], api.job(title="Other")["id"])

    matches = {p["id"]: api.stored_match(p["id"]) for p in people}
    expected = sorted(
        applications.values(),
        key=lambda a: (
            not matches[a["candidate_id"]]["must_haves_met"],
            -matches[a["candidate_id"]]["score"],
            uuid.UUID(a["id"]),
        ),
    )
    url = f"{JOBS}/{job['id']}/applications"
    listed = api.ok(url)["data"]
    assert [a["id"] for a in listed] == [a["id"] for a in expected]
    assert [a["candidate"]["name"] for a in listed[:2]] == ["Strong one", "Strong two"]
    assert listed[2]["candidate"]["name"] == "Broad but missing"
    assert listed[0]["match"]["score"] == listed[1]["match"]["score"]
    for item in listed:
        person = next(p for p in people if p["id"] == item["candidate_id"])
        assert item["candidate"] == {
            "id": person["id"],
            "name": person["name"],
            "headline": person["headline"],
        }
        assert item["job_id"] == job["id"]
        assert item["match"]["score"] == matches[person["id"]]["score"]

    assert [a["id"] for a in api.walk(url, limit=2)] == [a["id"] for a in expected]
    assert [a["id"] for a in api.walk(url, limit=1)] == [a["id"] for a in expected]

    def ids_of(**query: Any) -> list[str]:
        return [a["id"] for a in api.walk(url, limit=2, **query)]

    assert ids_of(status="rejected") == [by_name["Partly"]["id"]]
    assert ids_of(status="active") == [
        a["id"] for a in expected if a["id"] != by_name["Partly"]["id"]
    ]
    assert ids_of(stage=ids["Screen"]) == [by_name["Blank"]["id"]]
    assert ids_of(must_haves_met="true") == [a["id"] for a in expected[:2]]
    assert ids_of(must_haves_met="false") == [a["id"] for a in expected[2:]]
    threshold = matches[people[1]["id"]]["score"]
    assert ids_of(min_score=threshold) == [
        a["id"] for a in expected if matches[a["candidate_id"]]["score"] >= threshold
    ]
    assert ids_of(min_score=100) == [
        a["id"] for a in expected if matches[a["candidate_id"]]["score"] >= 100
    ]
    assert_problem(api.get(url, min_score=101), 422)
    assert_problem(api.get(f"{JOBS}/{NOBODY}/applications"), 404)


# ============================================================================ erasure


def test_erasure_hides_the_applications_everywhere_and_keeps_the_funnel(api: Api) -> None:
    job = api.job()
    ids = stage_ids(job)
    stays = api.candidate("Stays")
    leaves = api.candidate("Leaves")
    kept = api.application(stays["id"], job["id"], source={"channel": "applied"})
    gone = api.application(
        leaves["id"], job["id"], source={"channel": "referral", "detail": "Her old boss"}
    )
    api.move(gone, ids["Interview"], note="strong on payments")
    api.done(gone["id"], "reject", {"reason": "compensation", "note": "asked for more"})
    api.move(kept, ids["Screen"])
    other_job = api.job(title="Second job")
    gone_too = api.application(leaves["id"], other_job["id"])
    funnel_url = f"{JOBS}/{job['id']}/funnel"
    funnel = api.ok(funnel_url)
    assert funnel["applications"] == 2 and funnel["rejected"] == 1

    assert api.client.delete(f"/v1/candidates/{leaves['id']}", headers=api.headers).status_code == (
        204
    )

    for application in (gone, gone_too):
        url = f"{APPLICATIONS}/{application['id']}"
        assert_problem(api.get(url), 404)
        assert_problem(api.get(f"{url}/transitions"), 404)
        assert_problem(api.act(application["id"], "unreject", {}, '"1"'), 404)
    assert [a["id"] for a in api.walk(APPLICATIONS, limit=1)] == [kept["id"]]
    assert api.ok(APPLICATIONS, candidate_id=leaves["id"])["data"] == []
    assert [a["id"] for a in api.ok(APPLICATIONS, job_id=job["id"])["data"]] == [kept["id"]]
    assert api.ok(APPLICATIONS, job_id=other_job["id"])["data"] == []
    assert [a["id"] for a in api.ok(f"{JOBS}/{job['id']}/applications")["data"]] == [kept["id"]]
    assert api.ok(f"{JOBS}/{other_job['id']}/applications")["data"] == []
    assert_problem(api.get(f"/v1/candidates/{leaves['id']}/applications"), 404)
    feed = api.walk(TRANSITIONS, limit=2)
    assert {t["application_id"] for t in feed} == {kept["id"]}
    assert [t["kind"] for t in feed] == ["created", "moved"]
    assert api.ok(TRANSITIONS, kind="rejected")["data"] == []

    assert api.ok(funnel_url) == funnel
    assert api.ok(f"{JOBS}/{other_job['id']}/funnel")["applications"] == 1
    assert_problem(api.apply(leaves["id"], job["id"]), 404)
    # The person can apply again as a new candidate: nothing links them to the old application.
    again = api.candidate("Leaves")
    assert api.application(again["id"], job["id"])["id"] not in (gone["id"], gone_too["id"])


# ============================================================================ scopes


def test_a_dashboard_key_reads_the_pipeline_but_cannot_change_it(
    api: Api, make_key: Callable[..., str]
) -> None:
    job = api.job()
    ids = stage_ids(job)
    application = api.application(api.candidate("Watched")["id"], job["id"])
    dashboard = Api(api.client, bearer(make_key("dashboard")))
    for url in (
        JOBS,
        f"{JOBS}/{job['id']}",
        f"{JOBS}/{job['id']}/applications",
        f"{JOBS}/{job['id']}/funnel",
        APPLICATIONS,
        f"{APPLICATIONS}/{application['id']}",
        f"{APPLICATIONS}/{application['id']}/transitions",
        TRANSITIONS,
        REASONS,
    ):
        assert dashboard.get(url).status_code == 200, url

    assert_problem(dashboard.post(JOBS, {"title": "T", "role": "tpm"}), 403)
    etag = api.etag(f"{APPLICATIONS}/{application['id']}")
    bodies = {
        "move": {"from_stage": ids["Applied"], "to_stage": ids["Screen"]},
        "reject": {"reason": "other"},
    }
    for action in ACTION_ALLOWED_FROM:
        response = dashboard.act(application["id"], action, bodies.get(action, {}), etag)
        assert_problem(response, 403)
    assert_problem(dashboard.apply(api.candidate("Nope")["id"], job["id"]), 403)
    job_etag = api.etag(f"{JOBS}/{job['id']}")
    assert_problem(
        dashboard.patch(f"{JOBS}/{job['id']}", {"title": "x"}, **{"If-Match": job_etag}), 403
    )
    assert_problem(dashboard.post(REASONS, {"key": "k-k", "name": "K", "type": "other"}), 403)
    assert api.etag(f"{APPLICATIONS}/{application['id']}") == etag
    assert len(api.transitions(application["id"])) == 1
    assert len(api.ok(JOBS)["data"]) == 1


# ============================================================================ idempotency


def test_an_action_retried_with_its_idempotency_key_is_replayed_once(api: Api) -> None:
    job = api.job()
    ids = stage_ids(job)
    application = api.application(api.candidate("Flaky network")["id"], job["id"])
    etag = api.etag(f"{APPLICATIONS}/{application['id']}")
    body = {"from_stage": ids["Applied"], "to_stage": ids["Screen"], "note": "once"}
    first = api.act(application["id"], "move", body, etag, **{"Idempotency-Key": "move-1"})
    assert first.status_code == 200, first.data
    assert "Idempotent-Replayed" not in first.headers
    again = api.act(
        application["id"],
        "move",
        dict(reversed(body.items())),
        etag,
        **{"Idempotency-Key": "move-1"},
    )
    assert again.status_code == 200
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.get_json() == first.get_json()
    assert again.headers["ETag"] == first.headers["ETag"]
    history = api.transitions(application["id"])
    assert [t["kind"] for t in history] == ["created", "moved"]
    # The same key with another body is refused, and still writes nothing.
    other = {"from_stage": ids["Screen"], "to_stage": ids["Offer"]}
    response = api.act(
        application["id"], "move", other, first.headers["ETag"], **{"Idempotency-Key": "move-1"}
    )
    assert_problem(response, 422)
    assert len(api.transitions(application["id"])) == 2
    assert api.ok(f"{APPLICATIONS}/{application['id']}")["stage"]["id"] == ids["Screen"]
