"""Matching: explained scores per candidate, TPM-or-TMP fit, inline scoring, rankings."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint
from sqlalchemy import select

from service.api.auth import requires
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
from service.api.pagination import decode_cursor, page_response, parse_uuid_cursor
from service.api.writes import write
from service.db import request_session, utcnow
from service.domain import fit as fit_model
from service.domain import matching, rankings, scoring
from service.domain.candidates import get_candidate, resolve_records
from service.domain.competencies import load_taxonomy
from service.domain.errors import Invalid, NotFound
from service.domain.roles import RoleProfile, current_profiles, get_role
from service.models import Candidate, Competency

blp = Blueprint("matching", __name__, description="Match scores, fit and rankings.")


def _match_body(
    profile: RoleProfile,
    result: scoring.MatchResult,
    as_of: scoring.Month,
    now: datetime,
    records_digest: str | None,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "role": profile.key,
        "role_version": profile.version,
        "model_version": result.model_version,
        "score": result.score,
        "band": result.band,
        "must_haves_met": result.must_haves_met,
        "breakdown": [row.to_dict() for row in result.breakdown],
        "as_of": str(as_of),
        "computed_at": now,
    }
    if records_digest is not None:
        body["inputs_hash"] = scoring.inputs_hash(
            profile.key, profile.version, records_digest, as_of
        )
    return body


def _best_first(matches: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(matches, key=lambda m: (not m["must_haves_met"], -m["score"], m["role"]))


@blp.route("/v1/candidates/<uuid:candidate_id>/matches")
class CandidateMatches(MethodView):
    @requires("matches:read")
    @blp.response(200, CandidateMatchesSchema)
    def get(self, candidate_id: uuid.UUID) -> Any:
        """The candidate scored against every role's current version, best first, explained.

        Each breakdown row shows the required and effective level, coverage and the points it
        contributed (the rows add up to the score). Scores always reflect the current records
        and role versions; `inputs_hash` lets an auditor reproduce them.
        """
        session = request_session()
        digest = session.scalar(
            select(Candidate.records_digest).where(Candidate.id == candidate_id)
        )
        if digest is None:
            raise NotFound(f"no candidate {candidate_id}")
        records = matching.records_for(session, candidate_id)
        as_of, now = matching.current_month(), utcnow()
        matches = [
            _match_body(
                p, scoring.score(p.responsibilities, records, as_of=as_of), as_of, now, digest
            )
            for p in current_profiles(session)
        ]
        return {"candidate_id": candidate_id, "matches": _best_first(matches)}


@blp.route("/v1/candidates/<uuid:candidate_id>/fit")
class CandidateFit(MethodView):
    @requires("matches:read")
    @blp.arguments(FitArgsSchema, location="query")
    @blp.response(200, FitSchema)
    def get(self, args: dict[str, Any], candidate_id: uuid.UUID) -> Any:
        """Which of two roles (default tpm,tmp) the candidate leans to, and why.

        `leaning` is the higher-scoring role when the margin is at least 5 points, else
        `balanced`. `differentiators` are the competencies whose weight differs most between
        the roles (technical depth, scope, stakeholder interaction), with the candidate's
        coverage and the points each pushed towards one role or the other.
        """
        role_a, role_b = args["roles"].split(",")
        if role_a == role_b:
            raise Invalid("name two different roles", {"roles": ["two different role keys"]})
        session = request_session()
        candidate = get_candidate(session, candidate_id)
        profiles = {p.key: p for p in current_profiles(session, [role_a, role_b])}
        for key in (role_a, role_b):
            if key not in profiles:
                raise NotFound(f"no role {key!r}")
        categories = dict(session.execute(select(Competency.key, Competency.category)).all())
        records = matching.records_for(session, candidate_id)
        as_of, now = matching.current_month(), utcnow()
        result = fit_model.fit(
            role_a,
            profiles[role_a].responsibilities,
            role_b,
            profiles[role_b].responsibilities,
            records,
            as_of=as_of,
            categories=categories,
        )
        return {
            "candidate_id": candidate.id,
            "roles": [role_a, role_b],
            "leaning": result.leaning,
            "margin": result.margin,
            "scores": {key: m.score for key, m in result.scores.items()},
            "matches": {
                key: _match_body(profiles[key], m, as_of, now, candidate.records_digest)
                for key, m in result.scores.items()
            },
            "differentiators": [d.to_dict() for d in result.differentiators],
        }


@blp.route("/v1/match")
class InlineMatch(MethodView):
    @requires("matches:read")
    @write
    @blp.arguments(InlineMatchSchema)
    @blp.response(200, InlineMatchesSchema)
    def post(self, body: dict[str, Any]) -> Any:
        """Score an inline profile against roles (default: all). Nothing is stored."""
        session = request_session()
        resolved = resolve_records(load_taxonomy(session), body["competencies"])
        keys = {row["competency_id"]: None for row in resolved.rows}
        key_by_id = dict(
            session.execute(
                select(Competency.id, Competency.key).where(Competency.id.in_(keys))
            ).all()
        )
        records = [
            scoring.Record(
                key_by_id[row["competency_id"]],
                row["level"],
                row["evidence"],
                scoring.Month.from_index(row["last_used_month"])
                if row["last_used_month"] is not None
                else None,
            )
            for row in resolved.rows
        ]
        wanted = body.get("roles")
        profiles = current_profiles(session, wanted)
        if wanted:
            unknown = sorted(set(wanted) - {p.key for p in profiles})
            if unknown:
                raise Invalid("unknown roles", {"roles": [f"no role {k!r}" for k in unknown]})
        as_of, now = matching.current_month(), utcnow()
        matches = [
            _match_body(
                p,
                scoring.score(p.responsibilities, records, as_of=as_of),
                as_of,
                now,
                resolved.digest,
            )
            for p in profiles
        ]
        return {"matches": _best_first(matches)}


@blp.route("/v1/roles/<string:key>/matches")
class RoleRanking(MethodView):
    @requires("matches:read")
    @blp.arguments(RankingArgsSchema, location="query")
    @blp.response(200, RankingPageSchema)
    def get(self, args: dict[str, Any], key: str) -> Any:
        """Candidates ranked for a role: must-haves met first, then score, then candidate id.

        Filters: `min_score` (0..100) and `must_haves_met`. Cursor-paginated; served from the
        stored scores, which are rewritten with every change of records or role version.
        """
        session = request_session()
        role = get_role(session, key)
        if matching.refresh_if_month_changed(session, role.id):
            session.commit()
        cursor = None
        if "cursor" in args:
            rank_key, after = decode_cursor(args["cursor"], f"ranking/{key}", (int, str))
            cursor = (rank_key, parse_uuid_cursor(after))
        rows = rankings.page(
            session,
            role.id,
            limit=args["limit"] + 1,
            min_score_hundredths=(round(args["min_score"] * 100) if "min_score" in args else None),
            must_haves_met=args.get("must_haves_met"),
            after=cursor,
        )
        items = [
            {
                "candidate": {"id": r.candidate_id, "name": r.name, "headline": r.headline},
                "score": r.score_hundredths / 100,
                "band": r.band,
                "must_haves_met": r.must_haves_met,
                "role_version": r.role_version,
                "model_version": r.model_version,
                "computed_at": r.computed_at,
                "_key": [r.rank_key, str(r.candidate_id)],
            }
            for r in rows
        ]
        body, headers = page_response(items, args["limit"], f"ranking/{key}", lambda i: i["_key"])
        return body, 200, headers


@blp.route("/v1/roles/<string:key>/matches/summary")
class RoleSummary(MethodView):
    @requires("matches:read")
    @blp.response(200, SummarySchema)
    def get(self, key: str) -> Any:
        """Score distribution for a role: count, mean, median, p90, must-haves met, histogram.

        Computed in SQL over the stored scores; the histogram has 10 buckets of 10 points
        (the last includes 100).
        """
        session = request_session()
        role = get_role(session, key)
        if matching.refresh_if_month_changed(session, role.id):
            session.commit()
        summary = rankings.summary(session, role.id)
        return {"role": role.key, "role_version": role.current_version, **summary}
