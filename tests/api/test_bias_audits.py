"""Bias audits, self-identification and the model card through the HTTP API (accountability.md).

Scores are made exact with a probe role of two responsibilities, both importance 5 and level 5,
the first a must-have: a candidate with assessment-backed levels L1 and L2 (no last use, so
fully recent) scores 10 x (L1 + L2) and meets the must-have when L1 = 5.
"""

from __future__ import annotations

import csv
import io
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from service.domain import bias_audits, fit, scoring
from service.infra.database import Database
from service.models import AuditEvent, SelfIdentification
from tests.api.test_erasure import dump_every_table
from tests.api.test_ops_and_errors import assert_problem
from tests.conftest import bearer

AUDITS = "/v1/bias-audits"
PROBE = "audit-probe"
PROBE_ROLE = {
    "key": PROBE,
    "title": "Audit probe",
    "responsibilities": [
        {"competency": "technical-depth", "importance": 5, "level": 5, "must_have": True},
        {"competency": "business-acumen", "importance": 5, "level": 5},
    ],
}


def person(l1: int, l2: int, name: str = "P") -> dict[str, Any]:
    records = [
        {"competency": c, "level": level, "evidence": "assessment"}
        for c, level in (("technical-depth", l1), ("business-acumen", l2))
        if level
    ]
    return {"name": name, "competencies": records}


# The worked check of accountability.md: 20 people, median 70 with six ties; females 5/10 scored
# above, males 4/9; selected (must-haves met) females 6/10, males 4/9. (L1, L2, sex, race).
WORKED = [
    (5, 5, "female", "white"),  # 100 selected
    (5, 4, "female", "white"),  # 90 selected
    (5, 3, "female", "white"),  # 80 selected
    (4, 4, "female", "white"),  # 80
    (4, 5, "female", "white"),  # 90
    (5, 2, "female", "black-or-african-american"),  # 70 selected, tie
    (5, 2, "female", "black-or-african-american"),  # 70 selected, tie
    (5, 1, "female", "black-or-african-american"),  # 60 selected
    (3, 4, "female", "black-or-african-american"),  # 70 tie
    (2, 2, "female", "black-or-african-american"),  # 40
    (5, 5, "male", "white"),  # 100 selected
    (5, 3, "male", "white"),  # 80 selected
    (4, 5, "male", "white"),  # 90
    (3, 5, "male", "white"),  # 80
    (5, 2, "male", "asian"),  # 70 selected, tie
    (5, 0, "male", "asian"),  # 50 selected
    (4, 3, "male", "asian"),  # 70 tie
    (1, 1, "male", "asian"),  # 20
    (2, 3, "male", "declined"),  # 50
    (3, 4, None, "asian"),  # 70 tie, sex unknown
]


class Api:
    def __init__(self, client: FlaskClient, headers: dict[str, str]) -> None:
        self.client, self.headers = client, headers

    def post(self, url: str, body: Any, **headers: str):
        return self.client.post(url, json=body, headers={**self.headers, **headers})

    def get(self, url: str, **headers: str):
        return self.client.get(url, headers={**self.headers, **headers})

    def people(self, rows: list[tuple[int, int, str | None, str | None]]) -> list[str]:
        """Create the candidates in one batch and record their self-identification."""
        results = self.post(
            "/v1/candidates/batch", {"candidates": [person(l1, l2) for l1, l2, _, _ in rows]}
        ).get_json()["results"]
        ids = [r["id"] for r in results]
        for cid, (_, _, sex, race) in zip(ids, rows, strict=True):
            answers = {k: v for k, v in (("sex", sex), ("race_ethnicity", race)) if v}
            response = self.client.put(
                f"/v1/candidates/{cid}/self-identification", json=answers, headers=self.headers
            )
            assert response.status_code == 204, response.data
        return ids

    def audit(self, body: dict[str, Any], status: int = 201) -> dict[str, Any]:
        response = self.post(AUDITS, body)
        assert response.status_code == status, response.data
        return response.get_json()


@pytest.fixture
def api(client: FlaskClient, admin_headers: dict[str, str]) -> Api:
    api = Api(client, admin_headers)
    assert api.post("/v1/roles", PROBE_ROLE).status_code == 201
    return api


def dimension(report: dict[str, Any], name: str) -> dict[str, Any]:
    return next(d for d in report["dimensions"] if d["dimension"] == name)


def category(report: dict[str, Any], dim: str, name: str) -> dict[str, Any]:
    return next(c for c in dimension(report, dim)["categories"] if c["category"] == name)


# --------------------------------------------------------------------------- the worked check


def test_the_worked_twenty_person_example(api: Api) -> None:
    api.people(WORKED)
    report = api.audit({"role": PROBE, "selection": "must-haves-met"})
    assert report["method_version"] == "ll144-2023"
    assert report["model_version"] == scoring.MODEL_VERSION
    assert (report["role"], report["role_version"], report["job_id"]) == (PROBE, 1, None)
    assert (report["selection"], report["window"]) == ("must-haves-met", None)
    assert report["population"] == 20
    assert report["median"] == 70.0
    assert report["ties_at_median"] == 6
    assert report["share_above"] == 0.45
    assert len(report["inputs_hash"]) == 64
    assert [d["dimension"] for d in report["dimensions"]] == list(bias_audits.DIMENSIONS)

    sex = dimension(report, "sex")
    assert sex["unknown"] == 1
    assert (sex["benchmark_scoring"], sex["benchmark_selection"]) == ("female", "female")
    assert [c["category"] for c in sex["categories"]] == ["male", "female"]
    assert category(report, "sex", "female") == {
        "category": "female",
        "n": 10,
        "scored_above": 5,
        "scoring_rate": 0.5,
        "scoring_impact_ratio": 1.0,
        "selected": 6,
        "selection_rate": 0.6,
        "selection_impact_ratio": 1.0,
        "excluded": False,
        "low_n": True,
        "four_fifths_flag_scoring": False,
        "four_fifths_flag_selection": False,
        "fisher_p_scoring": None,  # the benchmark is not tested against itself
        "fisher_p_selection": None,
    }
    male = category(report, "sex", "male")
    assert male == {
        "category": "male",
        "n": 9,
        "scored_above": 4,
        "scoring_rate": 0.4444,
        "scoring_impact_ratio": 0.8889,
        "selected": 4,
        "selection_rate": 0.4444,
        "selection_impact_ratio": 0.7407,
        "excluded": False,
        "low_n": True,
        "four_fifths_flag_scoring": False,
        "four_fifths_flag_selection": True,  # 0.741 < 0.8: flagged
        "fisher_p_scoring": 1.0,
        "fisher_p_selection": 0.6563,
    }
    assert round(male["selection_impact_ratio"], 3) == 0.741
    assert round(male["fisher_p_selection"], 3) == 0.656

    # Race/ethnicity: one declined, nobody unanswered; white 9/9 above is the benchmark.
    race = dimension(report, "race_ethnicity")
    assert race["unknown"] == 1
    assert race["benchmark_scoring"] == "white"
    white, black = category(report, "race_ethnicity", "white"), None
    black = category(report, "race_ethnicity", "black-or-african-american")
    asian = category(report, "race_ethnicity", "asian")
    assert (white["n"], white["scored_above"], white["selected"]) == (9, 9, 5)
    assert (black["n"], black["scored_above"], black["selected"]) == (5, 0, 3)
    assert (asian["n"], asian["scored_above"], asian["selected"]) == (5, 0, 2)
    assert black["scoring_impact_ratio"] == 0.0
    assert race["benchmark_selection"] == "black-or-african-american"  # 3/5 beats 5/9
    empty = category(report, "race_ethnicity", "hispanic-or-latino")
    assert empty["n"] == 0
    assert empty["scoring_rate"] is None and empty["scoring_impact_ratio"] is None
    assert empty["fisher_p_scoring"] is None and empty["four_fifths_flag_scoring"] is None

    # Intersection: 14 categories; unknown when either answer is missing or declined.
    both = dimension(report, "sex_race_ethnicity")
    assert len(both["categories"]) == 14
    assert both["unknown"] == 2
    assert category(report, "sex_race_ethnicity", "female:white")["n"] == 5

    # Same stored inputs, same numbers and hash; a stored report reads back as it was.
    again = api.audit({"role": PROBE, "selection": "must-haves-met"})
    assert again["inputs_hash"] == report["inputs_hash"] and again["id"] != report["id"]
    strip = {"id", "created_at"}
    assert {k: v for k, v in again.items() if k not in strip} == {
        k: v for k, v in report.items() if k not in strip
    }
    read = api.get(f"{AUDITS}/{report['id']}")
    assert read.status_code == 200 and read.headers["ETag"]
    assert read.get_json() == report


def test_every_role_selection_rule(api: Api) -> None:
    api.people(WORKED)
    strong = api.audit({"role": PROBE, "selection": "band-strong"})
    good = api.audit({"role": PROBE, "selection": "band-good-or-better"})
    # Bands need the must-have: strong = met and >= 80; good or better = met and >= 60.
    assert category(strong, "sex", "female")["selected"] == 3
    assert category(strong, "sex", "male")["selected"] == 2
    assert category(good, "sex", "female")["selected"] == 6
    assert category(good, "sex", "male")["selected"] == 3
    assert strong["inputs_hash"] != good["inputs_hash"]
    for selection in ("hired", "stage:interview"):
        body = assert_problem(api.post(AUDITS, {"role": PROBE, "selection": selection}), 422)
        assert "selection" in body["errors"]


def test_csv_is_one_row_per_category(api: Api) -> None:
    api.people(WORKED)
    report = api.audit({"role": PROBE, "selection": "must-haves-met"})
    response = api.get(f"{AUDITS}/{report['id']}", Accept="text/csv")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert "Accept" in response.headers["Vary"]
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert len(rows) == 2 + 7 + 14
    male = next(r for r in rows if r["dimension"] == "sex" and r["category"] == "male")
    assert male["selection_impact_ratio"] == "0.7407"
    assert male["four_fifths_flag_selection"] == "true"
    assert male["fisher_p_scoring"] == "1.0"
    assert male["audit_id"] == report["id"] and male["median"] == "70.0"
    female = next(r for r in rows if r["dimension"] == "sex" and r["category"] == "female")
    assert female["fisher_p_selection"] == ""  # null
    # JSON stays the default, also for a client that accepts anything.
    assert api.get(f"{AUDITS}/{report['id']}", Accept="*/*").mimetype == "application/json"
    assert api.get(f"{AUDITS}/{report['id']}").get_json() == report


def test_small_categories_are_excluded_only_with_a_justification(api: Api) -> None:
    # 60 people: one american-indian-or-alaska-native (1/60 < 2 %), the rest white or asian.
    rows: list[tuple[int, int, str | None, str | None]] = [
        (5, 5, "male", "american-indian-or-alaska-native")
    ]
    rows += [(5, 1, "female", "white")] * 30 + [(5, 3, "male", "asian")] * 29
    api.people(rows)
    body = {"role": PROBE, "selection": "band-strong", "exclude_small_categories": True}
    problem = assert_problem(api.post(AUDITS, body), 422)
    assert "justification" in problem["errors"]
    assert_problem(api.post(AUDITS, {**body, "justification": "   "}), 422)

    plain = api.audit({"role": PROBE, "selection": "band-strong"})
    tiny = category(plain, "race_ethnicity", "american-indian-or-alaska-native")
    assert tiny["excluded"] is False and tiny["scoring_rate"] == 1.0
    # Asian 29/29 ties it at 1.0 and comes first in the contract's order: the benchmark.
    assert dimension(plain, "race_ethnicity")["benchmark_scoring"] == "asian"
    assert tiny["scoring_impact_ratio"] == 1.0

    why = "a category of one person cannot carry a rate (DCWP 5-301(d))"
    excluded = api.audit({**body, "justification": why})
    assert excluded["exclude_small_categories"] is True and excluded["justification"] == why
    tiny = category(excluded, "race_ethnicity", "american-indian-or-alaska-native")
    assert tiny["excluded"] is True
    assert (tiny["n"], tiny["scored_above"], tiny["scoring_rate"]) == (1, 1, 1.0)  # still listed
    assert tiny["scoring_impact_ratio"] is None and tiny["fisher_p_scoring"] is None
    race = dimension(excluded, "race_ethnicity")
    assert race["benchmark_scoring"] == "asian"
    assert category(excluded, "race_ethnicity", "asian")["scoring_impact_ratio"] == 1.0
    assert category(excluded, "race_ethnicity", "white")["scoring_impact_ratio"] == 0.0
    # Empty categories are under 2 % too: excluded, still listed with n = 0.
    assert category(excluded, "race_ethnicity", "white")["excluded"] is False
    assert category(excluded, "race_ethnicity", "hispanic-or-latino")["excluded"] is True
    assert excluded["inputs_hash"] != plain["inputs_hash"]


def test_an_all_unknown_dimension_and_an_empty_population(api: Api, client: FlaskClient) -> None:
    empty = api.audit({"role": PROBE, "selection": "must-haves-met"})
    assert (empty["population"], empty["median"], empty["share_above"]) == (0, None, None)
    assert all(c["n"] == 0 for d in empty["dimensions"] for c in d["categories"])
    assert all(d["benchmark_scoring"] is None for d in empty["dimensions"])

    api.people([(5, 5, None, None), (4, 4, None, "declined"), (3, 3, "female", None)])
    report = api.audit({"role": PROBE, "selection": "must-haves-met"})
    assert report["population"] == 3 and report["median"] == 80.0
    race = dimension(report, "race_ethnicity")
    assert race["unknown"] == 3
    assert race["benchmark_scoring"] is None and race["benchmark_selection"] is None
    assert all(c["n"] == 0 and c["scoring_impact_ratio"] is None for c in race["categories"])
    sex = dimension(report, "sex")
    assert sex["unknown"] == 2
    # The only female scored below the median: the highest rate is 0, so no ratio at all.
    female = category(report, "sex", "female")
    assert female["scoring_rate"] == 0.0 and female["scoring_impact_ratio"] is None
    assert sex["benchmark_scoring"] is None


def test_a_median_equal_to_the_maximum_scores_nobody_above(api: Api) -> None:
    api.people([(5, 5, "female", "white")] * 3 + [(2, 2, "male", "white")])
    report = api.audit({"role": PROBE, "selection": "must-haves-met"})
    assert report["median"] == 100.0 and report["ties_at_median"] == 3
    assert report["share_above"] == 0.0
    for c in dimension(report, "sex")["categories"]:
        assert c["scored_above"] == 0 and c["scoring_impact_ratio"] is None
    assert category(report, "sex", "female")["selection_impact_ratio"] == 1.0
    assert category(report, "sex", "male")["selection_impact_ratio"] == 0.0


def test_the_window_selects_candidates_created_in_it(api: Api) -> None:
    api.people([(5, 5, "female", "white")] * 2)
    time.sleep(0.01)
    start = datetime.now(UTC)
    time.sleep(0.01)
    api.people([(1, 1, "male", "asian")] * 3)
    window = {"from": start.isoformat()}
    report = api.audit({"role": PROBE, "selection": "must-haves-met", "window": window})
    assert report["population"] == 3
    assert category(report, "sex", "male")["n"] == 3
    assert report["window"]["from"].startswith(start.strftime("%Y-%m-%dT%H:%M:%S"))
    before = api.audit(
        {"role": PROBE, "selection": "must-haves-met", "window": {"to": start.isoformat()}}
    )
    assert before["population"] == 2 and before["window"]["from"] is None
    # A window that ends before it starts holds nobody (half-open [from, to)).
    backwards = {"from": start.isoformat(), "to": "2000-01-01T00:00:00Z"}
    empty = api.audit({"role": PROBE, "selection": "band-strong", "window": backwards})
    assert empty["population"] == 0


def test_requests_that_name_no_single_population_are_refused(api: Api) -> None:
    both = {"role": PROBE, "job_id": str(uuid.uuid4()), "selection": "must-haves-met"}
    assert "role" in assert_problem(api.post(AUDITS, both), 422)["errors"]
    assert_problem(api.post(AUDITS, {"selection": "must-haves-met"}), 422)
    assert_problem(api.post(AUDITS, {"role": "no-such-role", "selection": "band-strong"}), 404)
    unknown_job = {"job_id": str(uuid.uuid4()), "selection": "hired"}
    assert_problem(api.post(AUDITS, unknown_job), 404)
    assert_problem(api.post(AUDITS, {"role": PROBE, "selection": "stage:nowhere"}), 422)
    assert_problem(api.post(AUDITS, {"role": PROBE, "selection": "band-strong", "x": 1}), 422)
    assert_problem(api.get(f"{AUDITS}/{uuid.uuid4()}"), 404)


# --------------------------------------------------------------------------- job audits


def _job_with_applications(api: Api, rows) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    ids = api.people(rows)
    job = api.post("/v1/jobs", {"title": "Probe job", "role": PROBE, "status": "open"}).get_json()
    apps = []
    for cid in ids:
        created = api.post("/v1/applications", {"candidate_id": cid, "job_id": job["id"]})
        assert created.status_code == 201, created.data
        apps.append({**created.get_json(), "etag": created.headers["ETag"]})
    return job, apps


def _act(api: Api, application: dict[str, Any], action: str, body: dict[str, Any]) -> None:
    response = api.post(
        f"/v1/applications/{application['id']}/{action}", body, **{"If-Match": application["etag"]}
    )
    assert response.status_code == 200, response.data
    application["etag"] = response.headers["ETag"]
    application["stage"] = response.get_json()["stage"]


def test_job_audits_select_by_stage_reached_and_by_hire(api: Api) -> None:
    rows = [
        (5, 5, "female", "white"),
        (5, 4, "female", "white"),
        (4, 4, "female", "asian"),
        (5, 5, "male", "white"),
        (2, 2, "male", "asian"),
        (3, 3, None, None),
    ]
    job, apps = _job_with_applications(api, rows)
    stage = {s["kind"]: s["id"] for s in job["stages"]}
    # 0: to Interview, then hired; 1: skips to Offer; 2: Screen then rejected;
    # 3: to Interview, rejected there; 4 and 5 stay in Applied.
    _act(api, apps[0], "move", {"from_stage": stage["applied"], "to_stage": stage["interview"]})
    _act(api, apps[0], "hire", {})
    _act(api, apps[1], "move", {"from_stage": stage["applied"], "to_stage": stage["offer"]})
    _act(api, apps[2], "move", {"from_stage": stage["applied"], "to_stage": stage["screen"]})
    _act(api, apps[2], "reject", {"reason": "weaker-than-others"})
    _act(api, apps[3], "move", {"from_stage": stage["applied"], "to_stage": stage["interview"]})
    _act(api, apps[3], "reject", {"reason": "weaker-than-others"})

    interview = api.audit({"job_id": job["id"], "selection": "stage:interview"})
    assert interview["job_id"] == job["id"] and interview["role"] == PROBE
    assert interview["population"] == 6 and interview["role_version"] == 1
    assert category(interview, "sex", "female")["selected"] == 2  # 0 (and hired) and 1
    assert category(interview, "sex", "male")["selected"] == 1  # 3, rejected there
    offer = api.audit({"job_id": job["id"], "selection": "stage:offer"})
    # 1 reached Offer; 0 was hired from Interview, and a hire is past every stage.
    assert category(offer, "sex", "female")["selected"] == 2
    assert category(offer, "sex", "male")["selected"] == 0
    screen = api.audit({"job_id": job["id"], "selection": "stage:screen"})
    assert category(screen, "sex", "female")["selected"] == 3
    hired = api.audit({"job_id": job["id"], "selection": "hired"})
    assert category(hired, "sex", "female")["selected"] == 1
    assert category(hired, "sex", "male")["selected"] == 0
    met = api.audit({"job_id": job["id"], "selection": "must-haves-met"})
    assert category(met, "sex", "female")["selected"] == 2
    assert category(met, "sex", "male")["selected"] == 1
    assert dimension(met, "sex")["unknown"] == 1
    assert met["median"] == 85.0  # 100 100 90 80 60 40: the mean of 80 and 90

    # A stage kind the job does not have is refused ...
    only = api.post(
        "/v1/jobs",
        {
            "title": "Short",
            "role": PROBE,
            "status": "open",
            "stages": [{"name": "Applied", "kind": "applied"}],
        },
    ).get_json()
    # ... a conflict with the job as it is (409), not a malformed request.
    problem = assert_problem(
        api.post(AUDITS, {"job_id": only["id"], "selection": "stage:offer"}), 409
    )
    assert "offer" in problem["detail"]

    # The window of a job audit is on applied_at; erased candidates stay in as unknown.
    assert (
        api.client.delete(
            f"/v1/candidates/{apps[1]['candidate_id']}", headers=api.headers
        ).status_code
        == 204
    )
    after = api.audit({"job_id": job["id"], "selection": "must-haves-met"})
    assert after["population"] == 6
    assert dimension(after, "sex")["unknown"] == 2
    assert category(after, "sex", "female")["n"] == 2
    future = api.audit(
        {"job_id": job["id"], "selection": "hired", "window": {"from": "2999-01-01T00:00:00Z"}}
    )
    assert future["population"] == 0

    listed = api.get(f"{AUDITS}?job_id={job['id']}&limit=2").get_json()
    assert len(listed["data"]) == 2 and listed["next_cursor"]
    rest = api.get(f"{AUDITS}?job_id={job['id']}&cursor={listed['next_cursor']}").get_json()
    ids = [a["id"] for a in listed["data"] + rest["data"]]
    assert len(ids) == len(set(ids)) == 7
    assert all(a["job_id"] == job["id"] for a in listed["data"] + rest["data"])


def test_the_audit_list_pages_and_filters(api: Api) -> None:
    made = [api.audit({"role": PROBE, "selection": "band-strong"})["id"] for _ in range(3)]
    api.audit({"role": "tpm", "selection": "band-strong"})
    page = api.get(f"{AUDITS}?role={PROBE}&limit=2")
    assert page.status_code == 200 and 'rel="next"' in page.headers["Link"]
    first = page.get_json()
    second = api.get(f"{AUDITS}?role={PROBE}&limit=2&cursor={first['next_cursor']}").get_json()
    assert [a["id"] for a in first["data"] + second["data"]] == made
    assert second["next_cursor"] is None
    assert_problem(api.get(f"{AUDITS}?cursor=bm9wZQ"), 400)
    assert_problem(api.get(f"{AUDITS}?limit=0"), 422)


# --------------------------------------------------------------------------- scopes


def test_scopes(client: FlaskClient, make_key, api: Api) -> None:
    cid = api.people([(5, 5, None, None)])[0]
    auditor = bearer(make_key("auditor"))
    hr = bearer(make_key("hr-system"))
    recruiter = bearer(make_key("recruiter"))
    dashboard = bearer(make_key("dashboard"))
    body = {"role": PROBE, "selection": "must-haves-met"}
    made = client.post(AUDITS, json=body, headers=auditor)
    assert made.status_code == 201
    assert client.get(f"{AUDITS}/{made.get_json()['id']}", headers=auditor).status_code == 200
    assert client.get(AUDITS, headers=auditor).status_code == 200
    for headers in (hr, recruiter, dashboard):
        assert_problem(client.post(AUDITS, json=body, headers=headers), 403)
        assert_problem(client.get(AUDITS, headers=headers), 403)
    url = f"/v1/candidates/{cid}/self-identification"
    assert client.put(url, json={"sex": "female"}, headers=hr).status_code == 204
    for headers in (auditor, recruiter, dashboard):
        assert_problem(client.put(url, json={"sex": "female"}, headers=headers), 403)
    assert_problem(client.post(AUDITS, json=body), 401)
    # The auditor sees no contact fields and writes no candidate.
    assert_problem(client.get("/v1/candidates", headers=auditor), 403)
    assert_problem(client.post("/v1/candidates", json={"name": "x"}, headers=auditor), 403)
    assert client.get("/v1/model", headers=auditor).status_code == 200


# --------------------------------------------------------------------------- self-identification


def test_self_identification_is_write_only_and_never_shown(
    app: Flask, api: Api, client: FlaskClient, database: Database, session: Session
) -> None:
    cid = api.post("/v1/candidates", {"name": "Quiet Person"}).get_json()["id"]
    url = f"/v1/candidates/{cid}/self-identification"
    etag = api.get(f"/v1/candidates/{cid}").headers["ETag"]
    answers = {"sex": "female", "race_ethnicity": "native-hawaiian-or-other-pacific-islander"}
    response = client.put(url, json=answers, headers=api.headers)
    assert response.status_code == 204 and response.data == b""
    # Writing it does not touch the profile: same ETag, nothing of it in the candidate.
    profile = api.get(f"/v1/candidates/{cid}")
    assert profile.headers["ETag"] == etag
    for read in (
        profile,
        api.get("/v1/candidates"),
        api.get(f"/v1/candidates/{cid}/matches"),
        api.get("/v1/audit-events"),
    ):
        assert b"native-hawaiian" not in read.data and b"female" not in read.data
    assert client.get(url, headers=api.headers).status_code == 405
    # Replaced as a whole: an omitted field becomes unknown.
    assert client.put(url, json={"sex": "declined"}, headers=api.headers).status_code == 204
    session.rollback()
    row = session.get(SelfIdentification, uuid.UUID(cid))
    assert row is not None and (row.sex, row.race_ethnicity) == ("declined", None)
    # The trail says it was written, by whom, never what.
    app.extensions["rolefit.audit"].flush()
    events = session.scalars(
        select(AuditEvent).where(
            AuditEvent.resource_type == "self-identification", AuditEvent.resource_id == cid
        )
    ).all()
    assert [(e.action, e.resource_id, e.status) for e in events] == [("update", cid, 204)] * 2

    for bad in ({"sex": "other"}, {"race_ethnicity": "martian"}, {"sex": 1}, {"age": 40}):
        assert_problem(client.put(url, json=bad, headers=api.headers), 422)
    missing = f"/v1/candidates/{uuid.uuid4()}/self-identification"
    assert_problem(client.put(missing, json={"sex": "male"}, headers=api.headers), 404)

    # Erasure deletes it.
    assert client.delete(f"/v1/candidates/{cid}", headers=api.headers).status_code == 204
    session.rollback()
    assert session.get(SelfIdentification, uuid.UUID(cid)) is None
    assert "self_identifications:" not in dump_every_table(database)
    with database.engine.connect() as connection:
        assert connection.execute(text("SELECT COUNT(*) FROM self_identifications")).scalar() == 0


# --------------------------------------------------------------------------- the model card


def test_the_model_card_is_the_scoring_modules_constants(
    client: FlaskClient, admin_headers, monkeypatch: pytest.MonkeyPatch
) -> None:
    card = client.get("/v1/model", headers=admin_headers).get_json()
    assert card["model_version"] == scoring.MODEL_VERSION
    constants = card["constants"]
    assert constants["confidence_by_evidence"] == {
        k: v / 10 for k, v in scoring.EVIDENCE_CONFIDENCE_TENTHS.items()
    }
    assert constants["default_evidence"] == scoring.DEFAULT_EVIDENCE
    assert constants["recent_months"] == scoring.RECENT_MONTHS
    assert constants["bands"][:-1] == [
        {"band": b, "min_score": t / 100, "needs_must_haves": True}
        for b, t in scoring.BAND_THRESHOLDS_HUNDREDTHS
    ]
    assert constants["fit_leaning_margin"] == fit.LEANING_MARGIN_HUNDREDTHS / 100
    # The recency table is what recency_tenths answers, age by age.
    as_of = scoring.Month(2030, 6)
    for step in constants["recency_by_age"]:
        last = step["to_months"] if step["to_months"] is not None else step["from_months"] + 240
        for age in range(step["from_months"], last + 1):
            used = scoring.Month.from_index(as_of.index - age)
            assert scoring.recency_tenths(used, as_of) / 10 == step["factor"]
    assert (
        card["intended_use"] == "ranks candidates for human review; never rejects anyone by itself"
    )
    assert card["bias_audit_method_version"] == bias_audits.METHOD_VERSION

    # No second copy: change the scoring module's objects and the card follows.
    monkeypatch.setattr(scoring, "MODEL_VERSION", "v-test")
    monkeypatch.setitem(scoring.EVIDENCE_CONFIDENCE_TENTHS, "self", 6)
    monkeypatch.setattr(scoring, "BAND_THRESHOLDS_HUNDREDTHS", (("strong", 9000), ("weak", 0)))
    monkeypatch.setattr(fit, "LEANING_MARGIN_HUNDREDTHS", 700)
    changed = client.get("/v1/model", headers=admin_headers).get_json()
    assert changed["model_version"] == "v-test"
    assert changed["constants"]["confidence_by_evidence"]["self"] == 0.6
    assert [b["band"] for b in changed["constants"]["bands"]] == ["strong", "weak", "not-qualified"]
    assert changed["constants"]["fit_leaning_margin"] == 7.0
