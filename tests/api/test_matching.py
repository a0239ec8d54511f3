"""Matching endpoints: explained scores, fit, inline scoring, rankings and summaries."""

from __future__ import annotations

import statistics

import pytest
from flask.testing import FlaskClient

from tests.api.test_ops_and_errors import assert_problem
from tests.conftest import bearer

TPM_LIKE = [
    {"competency": "technical-depth", "level": 5, "evidence": "assessment"},
    {"competency": "engineering-collaboration", "level": 4, "evidence": "interview"},
    {"competency": "technical-requirements", "level": 4, "evidence": "work-sample"},
    {"competency": "project-lifecycle", "level": 4, "evidence": "assessment"},
    {"competency": "stakeholder-communication", "level": 3, "evidence": "reference"},
]
TMP_LIKE = [
    {"competency": "strategic-alignment", "level": 5, "evidence": "assessment"},
    {"competency": "cross-functional-engagement", "level": 5, "evidence": "interview"},
    {"competency": "program-oversight", "level": 4, "evidence": "work-sample"},
    {"competency": "business-acumen", "level": 4, "evidence": "assessment"},
    {"competency": "change-management", "level": 3, "evidence": "work-sample"},
    {"competency": "stakeholder-communication", "level": 4, "evidence": "assessment"},
]


def create(client: FlaskClient, headers: dict, name: str, competencies: list) -> str:
    response = client.post(
        "/v1/candidates", json={"name": name, "competencies": competencies}, headers=headers
    )
    assert response.status_code == 201, response.get_json()
    return response.get_json()["id"]


def matches_of(client: FlaskClient, headers: dict, candidate_id: str) -> dict[str, dict]:
    response = client.get(f"/v1/candidates/{candidate_id}/matches", headers=headers)
    assert response.status_code == 200
    return {m["role"]: m for m in response.get_json()["matches"]}


def ranking(client: FlaskClient, headers: dict, role: str, query: str = "") -> list[dict]:
    items, url = [], f"/v1/roles/{role}/matches?limit=3{query}"
    while url:
        response = client.get(url, headers=headers)
        assert response.status_code == 200, response.get_json()
        body = response.get_json()
        items += body["data"]
        url = (
            f"/v1/roles/{role}/matches?limit=3{query}&cursor={body['next_cursor']}"
            if body["next_cursor"]
            else None
        )
    return items


def test_matches_explain_themselves(client: FlaskClient, admin_headers) -> None:
    candidate = create(client, admin_headers, "Tess", TPM_LIKE)
    response = client.get(f"/v1/candidates/{candidate}/matches", headers=admin_headers)
    body = response.get_json()
    assert body["candidate_id"] == candidate
    roles = [m["role"] for m in body["matches"]]
    assert roles == ["tpm", "tmp"]  # best first: tpm meets its must-have, tmp does not
    tpm = body["matches"][0]
    assert tpm["must_haves_met"] is True
    assert tpm["role_version"] == 1
    assert tpm["model_version"] == "v1"
    assert len(tpm["inputs_hash"]) == 64
    assert round(sum(row["contribution"] for row in tpm["breakdown"]), 2) == tpm["score"]
    depth = next(r for r in tpm["breakdown"] if r["competency"] == "technical-depth")
    assert depth["required_level"] == 4
    assert depth["effective_level"] == 5.0
    assert depth["surplus"] == 1.0
    assert depth["coverage"] == 1.0
    missing = next(r for r in tpm["breakdown"] if r["competency"] == "business-acumen")
    assert missing["candidate_level"] is None
    assert missing["contribution"] == 0
    tmp = body["matches"][1]
    assert tmp["band"] == "not-qualified"


def test_scores_are_never_stale(client: FlaskClient, admin_headers) -> None:
    candidate = create(client, admin_headers, "Sam", TPM_LIKE[:2])
    before = matches_of(client, admin_headers, candidate)["tpm"]["score"]

    etag = client.get(f"/v1/candidates/{candidate}", headers=admin_headers).headers["ETag"]
    replaced = client.put(
        f"/v1/candidates/{candidate}/competencies",
        json={"competencies": TPM_LIKE},
        headers={**admin_headers, "If-Match": etag},
    )
    assert replaced.status_code == 200
    after = matches_of(client, admin_headers, candidate)["tpm"]["score"]
    assert after > before
    ranked = {i["candidate"]["id"]: i for i in ranking(client, admin_headers, "tpm")}
    assert ranked[candidate]["score"] == after

    # A new role version rescores everyone before the PUT returns.
    role = client.get("/v1/roles/tpm", headers=admin_headers)
    body = role.get_json()
    new_body = {k: body[k] for k in ("title", "summary", "focus", "responsibilities")}
    new_body["responsibilities"] = [
        r for r in new_body["responsibilities"] if r["competency"] != "stakeholder-communication"
    ]
    put = client.put(
        "/v1/roles/tpm", json=new_body, headers={**admin_headers, "If-Match": role.headers["ETag"]}
    )
    assert put.status_code == 200, put.get_json()
    assert put.get_json()["version"] == 2
    live = matches_of(client, admin_headers, candidate)["tpm"]
    ranked = {i["candidate"]["id"]: i for i in ranking(client, admin_headers, "tpm")}
    assert live["role_version"] == 2
    assert ranked[candidate]["role_version"] == 2
    assert ranked[candidate]["score"] == live["score"]
    # The old version stays readable, unchanged.
    old = client.get("/v1/roles/tpm/versions/1", headers=admin_headers).get_json()
    assert len(old["responsibilities"]) == 10


def test_ranking_orders_must_haves_then_score_then_id(client: FlaskClient, admin_headers) -> None:
    strong_but_missing = [r for r in TPM_LIKE if r["competency"] != "technical-depth"]
    strong_but_missing.append({"competency": "technical-depth", "level": 2})
    ids = [
        create(client, admin_headers, "A", TPM_LIKE),
        create(client, admin_headers, "B", TPM_LIKE),  # same score as A: id breaks the tie
        create(client, admin_headers, "C", strong_but_missing),
        create(client, admin_headers, "D", TMP_LIKE),
        create(client, admin_headers, "E", []),
    ]
    items = ranking(client, admin_headers, "tpm")
    assert sorted(i["candidate"]["id"] for i in items) == sorted(ids)
    keys = [(not i["must_haves_met"], -i["score"], i["candidate"]["id"]) for i in items]
    assert keys == sorted(keys)
    assert items[0]["candidate"]["id"] == min(ids[0], ids[1])
    missing = next(i for i in items if i["candidate"]["name"] == "C")
    assert missing["band"] == "not-qualified"
    # C scores above D but ranks below every candidate who meets the must-haves.
    assert all(i["must_haves_met"] for i in items[: items.index(missing)])
    assert set(items[0]["candidate"]) == {"id", "name", "headline"}

    met_only = ranking(client, admin_headers, "tpm", "&must_haves_met=true")
    assert {i["candidate"]["name"] for i in met_only} == {"A", "B"}
    above = ranking(client, admin_headers, "tpm", "&min_score=50")
    assert all(i["score"] >= 50 for i in above)
    assert len(above) < len(items)


def test_the_ranking_shows_the_current_name_and_headline(
    client: FlaskClient, admin_headers
) -> None:
    """The ranking shows copies kept on the matches: every way of changing them is seen at once."""
    candidate = create(client, admin_headers, "Before", TPM_LIKE)

    def shown() -> dict:
        return {i["candidate"]["id"]: i["candidate"] for i in ranking(client, admin_headers, "tpm")}

    assert shown()[candidate] == {"id": candidate, "name": "Before", "headline": None}
    etag = client.get(f"/v1/candidates/{candidate}", headers=admin_headers).headers["ETag"]
    patched = client.patch(
        f"/v1/candidates/{candidate}",
        json={"name": "After", "headline": "TPM, platform"},
        headers={**admin_headers, "If-Match": etag},
    )
    assert patched.status_code == 200, patched.get_json()
    assert shown()[candidate] == {"id": candidate, "name": "After", "headline": "TPM, platform"}

    # A PATCH that also replaces the records rescores, and the copies come with the new scores.
    etag = patched.headers["ETag"]
    both = client.patch(
        f"/v1/candidates/{candidate}",
        json={"headline": None, "competencies": TPM_LIKE[:2]},
        headers={**admin_headers, "If-Match": etag},
    )
    assert both.status_code == 200, both.get_json()
    assert shown()[candidate] == {"id": candidate, "name": "After", "headline": None}

    # Erasure leaves no copy behind.
    assert client.delete(f"/v1/candidates/{candidate}", headers=admin_headers).status_code == 204
    assert candidate not in shown()


@pytest.mark.parametrize(
    "query", ["?min_score=101", "?min_score=-1", "?limit=0", "?must_haves_met=maybe"]
)
def test_ranking_rejects_bad_filters(client: FlaskClient, admin_headers, query) -> None:
    assert_problem(client.get(f"/v1/roles/tpm/matches{query}", headers=admin_headers), 422)


def test_ranking_cursor_from_elsewhere_is_400(client: FlaskClient, admin_headers) -> None:
    for _ in range(3):
        create(client, admin_headers, "X", TPM_LIKE)
    cursor = client.get("/v1/roles/tpm/matches?limit=1", headers=admin_headers).get_json()[
        "next_cursor"
    ]
    assert_problem(client.get(f"/v1/roles/tmp/matches?cursor={cursor}", headers=admin_headers), 400)
    assert_problem(client.get("/v1/roles/tpm/matches?cursor=%%%", headers=admin_headers), 400)


def test_unknown_role_is_404(client: FlaskClient, admin_headers) -> None:
    assert_problem(client.get("/v1/roles/nope/matches", headers=admin_headers), 404)
    assert_problem(client.get("/v1/roles/nope/matches/summary", headers=admin_headers), 404)


def test_summary_agrees_with_the_ranking(client: FlaskClient, admin_headers) -> None:
    for index, profile in enumerate([TPM_LIKE, TMP_LIKE, TPM_LIKE[:2], [], TMP_LIKE[:3]]):
        create(client, admin_headers, f"S{index}", profile)
    items = ranking(client, admin_headers, "tmp")
    scores = sorted(i["score"] for i in items)
    summary = client.get("/v1/roles/tmp/matches/summary", headers=admin_headers).get_json()
    assert summary["count"] == len(scores)
    assert summary["mean"] == pytest.approx(statistics.fmean(scores), abs=0.01)
    assert summary["median"] == pytest.approx(statistics.median(scores), abs=0.01)
    assert summary["must_haves_met"] == sum(i["must_haves_met"] for i in items)
    assert len(summary["histogram"]) == 10
    assert sum(b["count"] for b in summary["histogram"]) == len(scores)
    assert summary["histogram"][0]["count"] >= 1  # the empty profile scores 0
    assert (summary["histogram"][0]["from"], summary["histogram"][-1]["to"]) == (0, 100)


def test_summary_of_a_role_without_candidates(client: FlaskClient, admin_headers) -> None:
    summary = client.get("/v1/roles/tpm/matches/summary", headers=admin_headers).get_json()
    assert summary["count"] == 0
    assert summary["mean"] is None
    assert summary["median"] is None


def test_fit_leans_and_explains(client: FlaskClient, admin_headers) -> None:
    tpm_like = create(client, admin_headers, "T", TPM_LIKE)
    tmp_like = create(client, admin_headers, "M", TMP_LIKE)
    fit = client.get(f"/v1/candidates/{tpm_like}/fit?roles=tpm,tmp", headers=admin_headers)
    body = fit.get_json()
    assert body["leaning"] == "tpm"
    assert body["margin"] >= 5
    assert body["scores"]["tpm"] - body["scores"]["tmp"] == pytest.approx(body["margin"], abs=0.01)
    first = body["differentiators"][0]
    assert {"competency", "weight_a", "weight_b", "candidate_coverage", "effect"} <= set(first)
    gaps = [abs(d["weight_a"] - d["weight_b"]) for d in body["differentiators"]]
    assert gaps == sorted(gaps, reverse=True)
    assert {d["aspect"] for d in body["differentiators"]} <= {
        "technical depth",
        "scope",
        "stakeholder interaction",
    }
    other = client.get(f"/v1/candidates/{tmp_like}/fit", headers=admin_headers).get_json()
    assert other["leaning"] == "tmp"
    assert other["roles"] == ["tpm", "tmp"]


@pytest.mark.parametrize(
    ("query", "status"),
    [("?roles=tpm,tpm", 422), ("?roles=tpm", 422), ("?roles=tpm,nope", 404), ("?roles=,", 422)],
)
def test_fit_rejects_bad_role_pairs(client: FlaskClient, admin_headers, query, status) -> None:
    candidate = create(client, admin_headers, "F", TPM_LIKE)
    assert_problem(
        client.get(f"/v1/candidates/{candidate}/fit{query}", headers=admin_headers), status
    )


def test_inline_match_stores_nothing(client: FlaskClient, admin_headers) -> None:
    response = client.post(
        "/v1/match",
        json={
            "competencies": [
                {"competency": "  Program   MANAGEMENT ", "level": 5, "evidence": "assessment"},
                {"competency": "okrs", "level": 4, "last_used": "2019-01"},
            ],
            "roles": ["tmp"],
        },
        headers=admin_headers,
    )
    assert response.status_code == 200, response.get_json()
    (match,) = response.get_json()["matches"]
    rows = {r["competency"]: r for r in match["breakdown"]}
    assert rows["program-oversight"]["candidate_level"] == 5
    assert rows["strategic-alignment"]["recency"] < 1.0
    listed = client.get("/v1/candidates", headers=admin_headers).get_json()
    assert listed["data"] == []
    assert (
        client.get("/v1/roles/tmp/matches/summary", headers=admin_headers).get_json()["count"] == 0
    )


def test_inline_match_honours_idempotency_keys(client: FlaskClient, admin_headers) -> None:
    """A read-only POST still replays its stored response for a repeated key and refuses the
    key with another body (its claim and its response go through separate connections)."""
    body = {"competencies": [{"competency": "technical-depth", "level": 4}], "roles": ["tpm"]}
    headers = {**admin_headers, "Idempotency-Key": "inline-1"}
    first = client.post("/v1/match", json=body, headers=headers)
    assert first.status_code == 200, first.get_json()
    again = client.post("/v1/match", json=body, headers=headers)
    assert again.status_code == 200
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.get_json() == first.get_json()
    other = client.post("/v1/match", json={**body, "roles": ["tmp"]}, headers=headers)
    assert_problem(other, 422)


def test_inline_match_names_the_closest_competency(client: FlaskClient, admin_headers) -> None:
    response = client.post(
        "/v1/match",
        json={"competencies": [{"competency": "strategic aligment", "level": 3}]},
        headers=admin_headers,
    )
    body = assert_problem(response, 422)
    assert "strategic-alignment" in body["errors"]["competencies.0.competency"][0]
    unknown_role = client.post(
        "/v1/match", json={"competencies": [], "roles": ["cto"]}, headers=admin_headers
    )
    assert_problem(unknown_role, 422)


def test_matches_of_an_unknown_or_erased_candidate_are_404(client: FlaskClient, admin_headers):
    candidate = create(client, admin_headers, "Gone", TPM_LIKE)
    assert client.delete(f"/v1/candidates/{candidate}", headers=admin_headers).status_code == 204
    for path in ("matches", "fit"):
        assert_problem(client.get(f"/v1/candidates/{candidate}/{path}", headers=admin_headers), 404)
    assert all(i["candidate"]["id"] != candidate for i in ranking(client, admin_headers, "tpm"))


def test_dashboard_can_read_rankings_but_not_write(client: FlaskClient, admin_headers, make_key):
    create(client, admin_headers, "D", TPM_LIKE)
    dashboard = bearer(make_key("dashboard"))
    assert client.get("/v1/roles/tpm/matches", headers=dashboard).status_code == 200
    assert_problem(client.post("/v1/candidates", json={"name": "x"}, headers=dashboard), 403)


def assert_shape(body, schema) -> None:
    """Every documented field is present and nothing undocumented is (bodies built by hand)."""
    from marshmallow import fields as mf

    declared = {f.data_key or name: f for name, f in schema.fields.items()}
    assert set(body) == set(declared), (set(body) ^ set(declared), type(schema).__name__)
    for key, field in declared.items():
        value = body[key]
        inner = field.inner if isinstance(field, mf.List) else field
        if isinstance(inner, mf.Nested) and value is not None:
            for item in value if isinstance(field, mf.List) else [value]:
                assert_shape(item, inner.schema)
        if isinstance(field, mf.Dict) and isinstance(field.value_field, mf.Nested):
            for item in value.values():
                assert_shape(item, field.value_field.schema)


def test_hand_built_bodies_match_their_schemas(client: FlaskClient, admin_headers) -> None:
    from service.api.matching import schemas

    candidate = create(client, admin_headers, "Shape", TPM_LIKE)
    get = lambda path: client.get(path, headers=admin_headers).get_json()  # noqa: E731
    assert_shape(get(f"/v1/candidates/{candidate}/matches"), schemas.CandidateMatchesSchema())
    assert_shape(get(f"/v1/candidates/{candidate}/fit"), schemas.FitSchema())
    assert_shape(get("/v1/roles/tpm/matches"), schemas.RankingPageSchema())
    inline = client.post("/v1/match", json={"competencies": TPM_LIKE}, headers=admin_headers)
    assert_shape(inline.get_json(), schemas.InlineMatchesSchema())
