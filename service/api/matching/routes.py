"""Matching: explained scores per candidate, TPM-or-TMP fit, inline scoring, rankings.

These are the hot read paths of dashboards. Each costs authentication plus at most one query:
role profiles and competency names come from the worker's catalog cache (see
:mod:`service.domain.catalog`). Bodies are built by :mod:`.bodies`, as every view's are.
"""

from __future__ import annotations

import uuid
from typing import Any

from flask import current_app
from flask.views import MethodView

from service.api.audit.recording import audited
from service.api.auth import current_catalog, requires
from service.api.blueprint import Blueprint
from service.api.jsonio import json_response
from service.api.matching import bodies
from service.api.matching.schemas import (
    CandidateMatchesSchema,
    FitArgsSchema,
    FitSchema,
    InlineMatchesSchema,
    InlineMatchSchema,
    RankingArgsSchema,
    RankingPageSchema,
    SummarySchema,
)
from service.api.openapi import REPLAYED_HEADER, idempotency_doc, key_parameter, problem_doc
from service.api.pagination import LINK_HEADER, decode_cursor, page_response, parse_uuid_cursor
from service.api.unit_of_work import read_only, request_connection
from service.domain import fit as fit_model
from service.domain import matching, rankings, score_counts, scoring
from service.domain.candidates import resolve_records
from service.domain.catalog import Catalog, RoleProfile
from service.domain.errors import Invalid, NotFound
from service.infra.database import Database
from service.infra.orm import utcnow

blp = Blueprint("matching", __name__, description="Match scores, fit and rankings.")


def _inputs(candidate_id: uuid.UUID) -> tuple[str, list[scoring.Record]]:
    inputs = matching.candidate_inputs(request_connection(), candidate_id)
    if inputs is None:
        raise NotFound(f"no candidate {candidate_id}")
    return inputs


def _role(catalog: Catalog, key: str) -> RoleProfile:
    profile = catalog.roles.get(key)
    if profile is None:
        raise NotFound(f"no role {key!r}")
    return profile


def _fresh(profile: RoleProfile) -> None:
    """Rescore the role first if the month (and so recency) moved on since its last rescore.

    Costs nothing in the common case; the rare rescore runs in a transaction of its own, since
    the request's read session commits every statement by itself.
    """
    if profile.scored_month >= matching.current_month().index:
        return
    database: Database = current_app.extensions["rolefit.db"]
    with database.session() as session:
        if matching.refresh_if_month_changed(session, profile.role_id, profile.scored_month):
            session.commit()


@blp.route("/v1/candidates/<uuid:candidate_id>/matches")
class CandidateMatches(MethodView):
    @requires("matches:read")
    @blp.response(200, CandidateMatchesSchema)
    @problem_doc(blp, 404, "No candidate with this id (or it was erased)")
    @blp.doc(operationId="getCandidateMatches")
    @audited("score", "candidate", id_arg="candidate_id")
    def get(self, candidate_id: uuid.UUID) -> Any:
        """The candidate scored against every role's current version, best first, explained.

        Each breakdown row shows the required and effective level, coverage and the points it
        contributed (the rows add up to the score). Scores always reflect the current records
        and role versions; `inputs_hash` lets an auditor reproduce them.
        """
        digest, records = _inputs(candidate_id)
        as_of, now = matching.current_month(), utcnow()
        scored = matching.live_scores(current_catalog().profiles(), records, as_of)
        matches = bodies.matches_body(scored, as_of, now, digest)
        return json_response({"candidate_id": str(candidate_id), "matches": matches})


@blp.route("/v1/candidates/<uuid:candidate_id>/fit")
class CandidateFit(MethodView):
    @requires("matches:read")
    @blp.arguments(FitArgsSchema(), location="query")
    @blp.response(200, FitSchema)
    @problem_doc(blp, 404, "No candidate with this id, or no role with one of the keys")
    @blp.doc(operationId="getCandidateFit")
    @audited("score", "candidate", id_arg="candidate_id")
    def get(self, args: dict[str, Any], candidate_id: uuid.UUID) -> Any:
        """Which of two roles (default tpm,tmp) the candidate leans to, and why.

        `leaning` is the higher-scoring role when the margin is at least 5 points, else
        `balanced`. `differentiators` are the competencies whose weight differs most between
        the roles (technical depth, scope, stakeholder interaction), with the candidate's
        coverage and the points each pushed towards one role or the other.
        """
        role_a, role_b = args["roles"]
        if role_a == role_b:
            raise Invalid("name two different roles", {"roles": ["two different role keys"]})
        catalog = current_catalog()
        profile_a, profile_b = _role(catalog, role_a), _role(catalog, role_b)
        digest, records = _inputs(candidate_id)
        as_of, now = matching.current_month(), utcnow()
        result = fit_model.fit(
            role_a,
            profile_a.responsibilities,
            role_b,
            profile_b.responsibilities,
            records,
            as_of=as_of,
            categories=catalog.categories,
        )
        profiles = {role_a: profile_a, role_b: profile_b}
        return json_response(bodies.fit_body(candidate_id, result, profiles, as_of, now, digest))


@blp.route("/v1/match")
class InlineMatch(MethodView):
    @requires("matches:read")
    @read_only
    @blp.arguments(InlineMatchSchema())
    @blp.response(200, InlineMatchesSchema, headers=REPLAYED_HEADER)
    @idempotency_doc(blp)
    @blp.doc(operationId="scoreProfile")
    @audited("score", "inline-profile")
    def post(self, body: dict[str, Any]) -> Any:
        """Score an inline profile against roles (default: all). Nothing is stored.

        The body's records are scored as a candidate's would be (same model and breakdown) but
        kept nowhere; `roles` limits the roles, and an unknown role key is a 422.
        """
        catalog = current_catalog()
        resolved = resolve_records(catalog.taxonomy, body["competencies"])
        wanted = body.get("roles")
        if wanted:
            unknown = sorted(set(wanted) - set(catalog.roles))
            if unknown:
                raise Invalid("unknown roles", {"roles": [f"no role {k!r}" for k in unknown]})
        as_of, now = matching.current_month(), utcnow()
        scored = matching.live_scores(catalog.profiles(wanted), resolved.records, as_of)
        return json_response({"matches": bodies.matches_body(scored, as_of, now, resolved.digest)})


@blp.route("/v1/roles/<string:key>/matches", parameters=key_parameter("role"))
class RoleRanking(MethodView):
    @requires("matches:read")
    @blp.arguments(RankingArgsSchema(), location="query")
    @blp.response(200, RankingPageSchema, headers=LINK_HEADER)
    @problem_doc(blp, 400, "The cursor is invalid or belongs to another list")
    @problem_doc(blp, 404, "No role with this key")
    @blp.doc(operationId="getRoleRanking")
    @audited("list", "ranking", id_arg="key")
    def get(self, args: dict[str, Any], key: str) -> Any:
        """Candidates ranked for a role: must-haves met first, then score, then candidate id.

        Filters: `min_score` (0..100) and `must_haves_met`. Cursor-paginated; served from the
        stored scores, which are rewritten with every change of records or role version.
        """
        profile = _role(current_catalog(), key)
        _fresh(profile)
        cursor = None
        if "cursor" in args:
            rank_key, after = decode_cursor(args["cursor"], f"ranking/{key}", (int, str))
            cursor = (rank_key, parse_uuid_cursor(after))
        rows = rankings.page(
            request_connection(),
            profile.role_id,
            limit=args["limit"] + 1,
            min_score_hundredths=(round(args["min_score"] * 100) if "min_score" in args else None),
            must_haves_met=args.get("must_haves_met"),
            after=cursor,
        )
        items, rank_keys = bodies.ranking_items(rows)
        body, headers = page_response(
            items,
            args["limit"],
            f"ranking/{key}",
            lambda i: [rank_keys[i["candidate"]["id"]], i["candidate"]["id"]],
        )
        return json_response(body, headers=headers)


@blp.route("/v1/roles/<string:key>/matches/summary", parameters=key_parameter("role"))
class RoleSummary(MethodView):
    @requires("matches:read")
    @blp.response(200, SummarySchema)
    @problem_doc(blp, 404, "No role with this key")
    @blp.doc(operationId="getRoleSummary")
    @audited("read", "ranking-summary", id_arg="key")
    def get(self, key: str) -> Any:
        """Score distribution for a role: count, mean, median, p90, must-haves met, histogram.

        Exact, and as fresh as the stored scores: read from counts of the scores by value that
        every write of a score keeps in the same transaction, so it costs the same whatever the
        number of candidates. The histogram has 10 buckets of 10 points (the last includes 100).
        """
        profile = _role(current_catalog(), key)
        _fresh(profile)
        summary = score_counts.summary(request_connection(), profile.role_id)
        return json_response({"role": profile.key, "role_version": profile.version, **summary})
