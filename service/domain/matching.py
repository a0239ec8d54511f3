"""Stored match scores: the set-based SQL twin of :func:`service.domain.scoring.score`.

:mod:`service.domain.scoring` is the one definition of the score. This module recomputes the
same integers in SQL, so that rescoring 100,000 candidates against a role is one
``INSERT ... SELECT`` instead of 100,000 Python calls. Every step mirrors the pure function
(portable to SQLite and PostgreSQL: integer arithmetic only, ``CASE`` instead of
``GREATEST``/``LEAST``, every operand of a division an integer, so both truncate)::

    conf  = CASE evidence WHEN 'assessment' THEN 10 ... END            (tenths)
    rec   = 10 if last_used is NULL or age <= 36, else max(5, 10 - ceil((age - 36) / 12))
    e100  = level * conf * rec                                         (hundredths)
    cap   = CASE WHEN e100 < 100 * R THEN e100 ELSE 100 * R END
    weighted = SUM(I * cap * (60 / R))           over the candidate's records the role lists
    score_hundredths = (10 * weighted + 3 * total) / (6 * total)        total = SUM(I) of the role
    must_haves_met   = (number of must-haves with e100 >= 100 * R) = (number of must-haves)

and ``inputs_hash`` is :func:`scoring.inputs_hash`'s SHA-256 of
``"{MODEL_VERSION}|{role key}|{role version}|{YYYY-MM}|{candidates.records_digest}"``
(SQLite gets a ``sha256`` function from :mod:`service.infra.database`).
``tests/domain/test_matching_sql.py`` proves on random data that both paths agree exactly.

The functions take a :class:`~sqlalchemy.orm.Session` and only add, flush and execute; the caller
owns the transaction. A candidate's rescore deletes its rows and writes fresh ones (an upsert,
``ON CONFLICT (role_id, candidate_id) DO UPDATE``, as a safety net: candidate writes share-lock
the roles first, :func:`lock_roles`, so a role rescore no longer races them). A role's rescore
(and ``rolefit rescore``) works in place and rewrites only the rows whose values change
(:class:`_InPlace`). Every write keeps the role summary's counts
(:mod:`service.domain.score_counts`) in the same transaction.

A role's rescore runs inside its ``PUT``, so its statements get their own timeout
(``ROLEFIT_RESCORE_TIMEOUT_SECONDS``, :func:`~service.infra.database.long_statements`) instead
of the 5 s of ordinary requests. Measured at 100,000 candidates x 9 records on the shared
2-core machine (load average 7 to 9): a role change 9.0 s in place against 11.9-12.1 s for the
former ``DELETE`` + ``INSERT``; a rescore that changes nothing 3.3-3.5 s against 8.6-9.0 s.
Where the time goes (EXPLAIN ANALYZE): computing the new rows (the aggregate of every
candidate's records, the SHA-256 of each row's inputs) about 3 s, writing the changed rows
(three index entries each) about 3.5 s.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, NamedTuple, cast

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from service.domain import catalog, events, score_counts, scoring
from service.infra.bulk import among, among_parameter, chunked, create_temporary_table_as
from service.infra.database import long_statements
from service.infra.driver_query import DriverQuery
from service.infra.orm import UTCDateTime, utcnow
from service.models import (
    Application,
    Candidate,
    CandidateCompetency,
    Competency,
    Job,
    Match,
    Responsibility,
    Role,
    RoleVersion,
)

__all__ = [
    "CHUNK_SIZE",
    "RANK_KEY_MUST_HAVES",
    "Rescored",
    "candidate_inputs",
    "current_month",
    "erase_matches",
    "live_scores",
    "lock_roles",
    "profile_changed",
    "rank_applications",
    "refresh_if_month_changed",
    "rescore_all",
    "rescore_candidates",
    "rescore_role",
]

CHUNK_SIZE = 500
"""Candidates rescored per statement by :func:`rescore_candidates` (bounds the IN lists)."""

RANK_KEY_MUST_HAVES = 100_000
"""``rank_key = must_haves_met * RANK_KEY_MUST_HAVES + score_hundredths`` (score <= 10000)."""

_MATCHES = cast(sa.Table, Match.__table__)
_APPLICATIONS = cast(sa.Table, Application.__table__)
_JOBS = cast(sa.Table, Job.__table__)
_MATCH_KEY = ("role_id", "candidate_id")
_MATCH_COLUMNS = (
    "role_id",
    "candidate_id",
    "role_version",
    "model_version",
    "score_hundredths",
    "must_haves_met",
    "band",
    "rank_key",
    "as_of_month",
    "inputs_hash",
    "computed_at",
    "candidate_name",
    "candidate_headline",
)
_SCORED_COLUMNS = tuple(
    name for name in _MATCH_COLUMNS if name not in ("candidate_name", "candidate_headline")
)
"""What a role's rescore computes: every column but the copies of the candidate's name and
headline, which it never changes (so its temporary table of a million rows leaves them out)."""


def current_month(now: datetime | None = None) -> scoring.Month:
    """The month (UTC) that recency is computed against: the month of ``now`` (default: now).

    Raises ``ValueError`` for a naive datetime.
    """
    if now is None:
        now = utcnow()
    if now.tzinfo is None:
        raise ValueError(
            "naive datetime given; pass an aware one (e.g. service.infra.orm.utcnow())"
        )
    return scoring.Month.from_date(now.astimezone(UTC).date())


# --------------------------------------------------------------------------- live scores


def live_scores(
    profiles: Sequence[catalog.RoleProfile], records: list[scoring.Record], as_of: scoring.Month
) -> list[tuple[catalog.RoleProfile, scoring.MatchResult]]:
    """``records`` scored now against each profile, best first: must-haves met, then score,
    then role key. Nothing is read or stored: the explained matches of a candidate or profile."""
    scored = [(p, scoring.score(p.responsibilities, records, as_of=as_of)) for p in profiles]
    return sorted(scored, key=lambda pr: (not pr[1].must_haves_met, -pr[1].score, pr[0].key))


# --------------------------------------------------------------------------- one candidate


_candidates = Candidate.__table__
_records = CandidateCompetency.__table__
_competencies = Competency.__table__
# Built once, in Core: this runs on every match read.
_CANDIDATE_INPUTS = DriverQuery(
    sa.select(
        _candidates.c.records_digest,
        _competencies.c.key,
        _records.c.level,
        _records.c.evidence,
        _records.c.last_used_month,
    )
    .select_from(
        _candidates.outerjoin(_records, _records.c.candidate_id == _candidates.c.id).outerjoin(
            _competencies, _competencies.c.id == _records.c.competency_id
        )
    )
    .where(_candidates.c.id == sa.bindparam("candidate_id"))
    .order_by(_records.c.position, _competencies.c.key)
)


def candidate_inputs(
    connection: sa.Connection, candidate_id: uuid.UUID
) -> tuple[str, list[scoring.Record]] | None:
    """A candidate's records digest and records as the scoring model's plain data, in record
    order; None when there is no such candidate. One round trip: it runs on every match read.
    """
    rows = _CANDIDATE_INPUTS.rows(connection, {"candidate_id": candidate_id})
    if not rows:
        return None
    return rows[0][0], [
        scoring.Record(
            competency=key,
            level=level,
            evidence=evidence,
            last_used=None if last_used is None else scoring.Month.from_index(last_used),
        )
        for _digest, key, level, evidence, last_used in rows
        if key is not None
    ]


# --------------------------------------------------------------------------- the SQL


def _dialect(session: Session) -> str:
    return session.get_bind().dialect.name


def _sha256_hex(text: sa.ColumnElement[str], dialect: str) -> sa.ColumnElement[str]:
    """Lowercase hex SHA-256 of the UTF-8 bytes of ``text``, on either backend."""
    if dialect == "postgresql":
        return sa.func.encode(
            sa.func.sha256(sa.func.convert_to(text, sa.literal("UTF8"))),
            sa.literal("hex"),
            type_=sa.String,
        )
    # SQLite: registered per connection by service.infra.database.
    return sa.func.sha256(text, type_=sa.String)


def _int(value: int) -> sa.ColumnElement[int]:
    return sa.literal(value, sa.Integer)


def _current_roles(by_role: bool) -> sa.Subquery:
    """One row per role (with at least one responsibility) at its current version.

    Columns: role_id, role_version, role_version_id, total (sum of importances), must_haves
    (how many) and hash_prefix, the constant part of the inputs_hash text.
    """
    hash_prefix = (
        sa.literal(f"{scoring.MODEL_VERSION}|", sa.String)
        + Role.key
        + sa.literal("|", sa.String)
        + sa.cast(Role.current_version, sa.String)
        + sa.bindparam("as_of_text", type_=sa.String)
    )
    query = (
        sa.select(
            Role.id.label("role_id"),
            Role.current_version.label("role_version"),
            RoleVersion.id.label("role_version_id"),
            hash_prefix.label("hash_prefix"),
            sa.cast(sa.func.sum(Responsibility.importance), sa.Integer).label("total"),
            sa.cast(
                sa.func.sum(sa.case((Responsibility.must_have, _int(1)), else_=_int(0))),
                sa.Integer,
            ).label("must_haves"),
        )
        .select_from(Role)
        .join(
            RoleVersion,
            sa.and_(RoleVersion.role_id == Role.id, RoleVersion.version == Role.current_version),
        )
        .join(Responsibility, Responsibility.role_version_id == RoleVersion.id)
        .group_by(Role.id, Role.key, Role.current_version, RoleVersion.id)
    )
    if by_role:
        query = query.where(Role.id == sa.bindparam("role_id", type_=sa.Integer))
    return query.subquery("current_roles")


def _effective_hundredths() -> sa.ColumnElement[int]:
    """``level * confidence_tenths * recency_tenths`` of a candidate_competencies row."""
    cc = CandidateCompetency
    confidence = sa.case(
        *(
            (cc.evidence == kind, _int(tenths))
            for kind, tenths in scoring.EVIDENCE_CONFIDENCE_TENTHS.items()
        ),
        else_=_int(0),  # unreachable for valid data: scoring.Record refuses unknown evidence
    )
    # age = as_of - last_used (months). ceil((age - 36) / 12) = (age - 25) / 12 for age > 36.
    last_used = cc.last_used_month
    years_over = (sa.bindparam("recency_base", type_=sa.Integer) - last_used) // _int(12)
    aged = _int(10) - years_over
    recency = sa.case(
        (last_used.is_(None), _int(10)),
        (last_used >= sa.bindparam("recent_from", type_=sa.Integer), _int(10)),  # incl. future
        (aged < _int(scoring.MIN_RECENCY_TENTHS), _int(scoring.MIN_RECENCY_TENTHS)),
        else_=aged,
    )
    return cc.level * confidence * recency


def _scores_select(dialect: str, by_role: bool, by_candidates: bool) -> sa.Select[Any]:
    """The match rows (columns in ``_MATCH_COLUMNS`` order) of the selected pairs.

    Pairs: every candidate (or those of ``candidate_ids``) x every role (or ``role_id``) at its
    current version. Candidates without a relevant record get score 0 through the outer join.
    """
    roles = _current_roles(by_role)
    cc = CandidateCompetency
    e100 = _effective_hundredths()
    required100 = Responsibility.level * _int(100)
    capped = sa.case((e100 < required100, e100), else_=required100)
    term = Responsibility.importance * capped * (_int(scoring._LCM_LEVELS) // Responsibility.level)
    must_have_met = sa.case(
        (sa.and_(Responsibility.must_have, e100 >= required100), _int(1)), else_=_int(0)
    )
    per_candidate = (
        sa.select(
            cc.candidate_id.label("candidate_id"),
            roles.c.role_id,
            sa.cast(sa.func.sum(term), sa.BigInteger).label("weighted"),
            sa.cast(sa.func.sum(must_have_met), sa.Integer).label("must_haves_met"),
        )
        .select_from(cc)
        .join(Responsibility, Responsibility.competency_id == cc.competency_id)
        .join(roles, roles.c.role_version_id == Responsibility.role_version_id)
        .group_by(cc.candidate_id, roles.c.role_id)
    )
    if by_candidates:
        per_candidate = per_candidate.where(
            among_parameter(dialect, cc.candidate_id, "candidate_ids")
        )
    agg = per_candidate.subquery("per_candidate")

    weighted = sa.cast(sa.func.coalesce(agg.c.weighted, _int(0)), sa.BigInteger)
    total = roles.c.total
    score = (weighted * _int(10) + total * _int(3)) // (total * _int(6))
    met = sa.case(
        (sa.func.coalesce(agg.c.must_haves_met, _int(0)) == roles.c.must_haves, _int(1)),
        else_=_int(0),
    )
    pairs = (
        sa.select(
            roles.c.role_id,
            Candidate.id.label("candidate_id"),
            roles.c.role_version,
            score.label("score_hundredths"),
            met.label("met"),
            _sha256_hex(roles.c.hash_prefix + Candidate.records_digest, dialect).label(
                "inputs_hash"
            ),
            Candidate.name.label("candidate_name"),
            Candidate.headline.label("candidate_headline"),
        )
        .select_from(Candidate)
        .join(roles, sa.true())
        .outerjoin(
            agg, sa.and_(agg.c.candidate_id == Candidate.id, agg.c.role_id == roles.c.role_id)
        )
    )
    if by_candidates:
        pairs = pairs.where(among_parameter(dialect, Candidate.id, "candidate_ids"))
    s = pairs.subquery("scored")

    band = sa.case(
        (s.c.met == _int(0), sa.literal("not-qualified", sa.String)),
        *(
            (s.c.score_hundredths >= _int(lowest), sa.literal(name, sa.String))
            for name, lowest in scoring.BAND_THRESHOLDS_HUNDREDTHS
        ),
        else_=sa.literal("weak", sa.String),
    )
    return (
        sa.select(
            s.c.role_id,
            s.c.candidate_id,
            s.c.role_version,
            sa.literal(scoring.MODEL_VERSION, sa.String),
            s.c.score_hundredths,
            s.c.met == _int(1),
            band,
            s.c.met * _int(RANK_KEY_MUST_HAVES) + s.c.score_hundredths,
            sa.bindparam("as_of_index", type_=sa.Integer),
            s.c.inputs_hash,
            sa.bindparam("now", type_=UTCDateTime()),
            s.c.candidate_name,
            s.c.candidate_headline,
        )
        # SQLite needs a WHERE before ON CONFLICT (else "ON" parses as a join constraint).
        .where(sa.true())
    )


@functools.cache
def _upsert(dialect: str, by_role: bool, by_candidates: bool) -> sa.Executable:
    """``INSERT INTO matches ... SELECT`` as an upsert on (role_id, candidate_id).

    Built once per shape: everything that varies (month, time, role, candidates) is a bound
    parameter, since building this statement costs more than running it for one candidate.
    """
    rows = _scores_select(dialect, by_role, by_candidates)
    if dialect in ("postgresql", "sqlite"):
        module: Any = postgresql if dialect == "postgresql" else sqlite
        insert = module.insert(_MATCHES).from_select(_MATCH_COLUMNS, rows)
        return cast(
            sa.Executable,
            insert.on_conflict_do_update(
                index_elements=list(_MATCH_KEY),
                set_={
                    name: insert.excluded[name] for name in _MATCH_COLUMNS if name not in _MATCH_KEY
                },
            ),
        )
    return sa.insert(_MATCHES).from_select(_MATCH_COLUMNS, rows)  # pragma: no cover


def _params(
    as_of: scoring.Month,
    now: datetime,
    role_id: int | None,
    candidate_ids: Sequence[uuid.UUID] | None,
) -> dict[str, Any]:
    """The bound parameters of :func:`_scores_select` for this month, time and selection."""
    params: dict[str, Any] = {
        "as_of_text": f"|{as_of}|",
        "as_of_index": as_of.index,
        "recency_base": as_of.index - scoring.RECENT_MONTHS + 11,
        "recent_from": as_of.index - scoring.RECENT_MONTHS,
        "now": now,
    }
    if role_id is not None:
        params["role_id"] = role_id
    if candidate_ids is not None:
        params["candidate_ids"] = candidate_ids
    return params


def _write(
    session: Session,
    as_of: scoring.Month,
    now: datetime,
    *,
    role_id: int | None = None,
    candidate_ids: Sequence[uuid.UUID] | None = None,
) -> int:
    """Score the selected (candidate, role) pairs into ``matches``; returns the row count."""
    params = _params(as_of, now, role_id, candidate_ids)
    statement = _upsert(_dialect(session), role_id is not None, candidate_ids is not None)
    # rowcount is only guaranteed for UPDATE/DELETE unless asked to keep it.
    result = cast(
        sa.CursorResult[Any],
        session.execute(statement, params, execution_options={"preserve_rowcount": True}),
    )
    return max(result.rowcount, 0)


def _delete(session: Session, *criteria: sa.ColumnElement[bool]) -> None:
    """Delete the matches selected, the role summary's counts with them."""
    score_counts.remove(session, *criteria)
    session.execute(
        sa.delete(Match).where(*criteria), execution_options={"synchronize_session": "evaluate"}
    )


def _resolve(as_of: scoring.Month | None) -> tuple[scoring.Month, datetime]:
    now = utcnow()
    return (current_month(now) if as_of is None else as_of), now


def _chunks(ids: Iterable[uuid.UUID], size: int) -> Iterable[Sequence[uuid.UUID]]:
    return chunked(list(dict.fromkeys(ids)), size)  # each candidate once


# --------------------------------------------------------------------------- rescoring


def profile_changed(session: Session, candidate: Candidate) -> None:
    """Copy the candidate's name and headline to their matches (the ranking shows them), in
    the caller's transaction. Rescoring copies them too; this is for changes without one."""
    session.execute(
        sa.update(_MATCHES)
        .where(_MATCHES.c.candidate_id == candidate.id)
        .values(candidate_name=candidate.name, candidate_headline=candidate.headline)
    )


class Rescored(NamedTuple):
    """What a rescoring did: match rows scored, how many of them changed band or must-haves
    (each a ``match.band_changed`` event), and how many stored rows it wrote (the others were
    already what the rescoring computed)."""

    written: int
    band_changes: int
    rewritten: int = 0


def rescore_candidates(
    session: Session,
    candidate_ids: Sequence[uuid.UUID],
    *,
    as_of: scoring.Month | None = None,
    new: bool = False,
) -> None:
    """Rescore these candidates against the current version of every role.

    Their match rows are deleted and rewritten, :data:`CHUNK_SIZE` candidates per set-based
    ``INSERT ... SELECT``; other candidates' rows are not touched. Pending ORM changes are flushed
    first (autoflush), so call it after changing records in the same session. ``as_of`` defaults
    to the current month. A band or must-haves that changed is a ``match.band_changed`` event;
    ``new`` candidates had no matches before (nothing to compare).
    """
    month, now = _resolve(as_of)
    lock_roles(session)
    dialect = _dialect(session)
    for chunk in _chunks(candidate_ids, CHUNK_SIZE):
        criteria = (among(dialect, Match.candidate_id, chunk),)
        with _PreviousBands(session, None if new else criteria) as previous:
            if not new:
                # An IN list here: the ORM delete also drops the session's copies of the rows,
                # evaluating its criteria in Python, which it cannot do for = ANY(array).
                _delete(session, Match.candidate_id.in_(chunk))
            _write(session, month, now, candidate_ids=chunk)
            if not new:  # a new candidate has applied nowhere yet
                rank_applications(session, among(dialect, _APPLICATIONS.c.candidate_id, chunk))
            score_counts.add(session, *criteria)
            previous.record_changes(now)


def rank_applications(session: Session, *criteria: sa.ColumnElement[bool]) -> None:
    """Copy into the applications ``criteria`` select the rank key of their candidate's stored
    match for their job's role, where it differs (an unchanged application is not rewritten).
    Called wherever matches are written, in the same transaction."""
    a, j, m = _APPLICATIONS, _JOBS, _MATCHES
    session.execute(
        sa.update(a)
        .where(
            j.c.id == a.c.job_id,
            m.c.role_id == j.c.role_id,
            m.c.candidate_id == a.c.candidate_id,
            a.c.rank_key.is_distinct_from(m.c.rank_key),
            *criteria,
        )
        .values(rank_key=m.c.rank_key)
    )


def erase_matches(session: Session, candidate_id: uuid.UUID) -> None:
    """Delete every stored match of a candidate (erasure), and take them out of the counts.

    Call :func:`lock_roles` before locking the candidate: a role rescore inserting this
    candidate's rows would otherwise wait for the erasure while the erasure waits for it.
    """
    _delete(session, Match.candidate_id == candidate_id)


def lock_roles(session: Session) -> None:
    """Share-lock every role (PostgreSQL) until the transaction ends, before writing some
    candidates' matches.

    A role's rescore holds its row (the new version, ``scored_month``), so this waits for a
    rescore in progress and then scores against the version it committed; and a rescore waits
    for the candidate writes in progress. The two never write the same match concurrently,
    which keeps the summary's counts exact (:mod:`service.domain.score_counts`). In role id
    order, so concurrent writers take the locks in the same order. SQLite has one writer.
    """
    if _dialect(session) == "postgresql":
        session.execute(sa.select(Role.id).order_by(Role.id).with_for_update(read=True))


def rescore_role(session: Session, role_id: int, *, as_of: scoring.Month | None = None) -> Rescored:
    """Rescore every candidate against the current version of one role.

    In place (:class:`_InPlace`): only the stored rows whose values change are rewritten; the
    band changes are found by the same pass; the summary's counts of the role are recounted.
    The role then records the month its scores were computed for.
    """
    month, now = _resolve(as_of)
    with long_statements(session), _InPlace(session, role_id) as rescore:
        rescored = rescore.run(month, now)
        rank_applications(session, _JOBS.c.role_id == role_id)
        score_counts.recount(session, role_id, written=rescore.table)
        rescored = rescored._replace(band_changes=rescore.record_changes(now))
    role = session.get_one(Role, role_id)
    role.scored_month = month.index  # a catalog change: every worker's cache reloads
    session.flush()
    return rescored


def rescore_all(session: Session, *, as_of: scoring.Month | None = None) -> Rescored:
    """Rescore every candidate against every role (after an upgrade that changes the scoring
    model: ``rolefit rescore``), in place as :func:`rescore_role` does.

    The roles are locked first, so a role PUT waits for this instead of racing it.
    """
    month, now = _resolve(as_of)
    roles = list(session.scalars(sa.select(Role).order_by(Role.id).with_for_update()))
    with long_statements(session), _InPlace(session, None) as rescore:
        rescored = rescore.run(month, now)
        rank_applications(session)
        score_counts.recount(session, written=rescore.table)
        rescored = rescored._replace(band_changes=rescore.record_changes(now))
    for role in roles:
        role.scored_month = month.index
    session.flush()
    return rescored


class _InPlace:
    """The rescoring of every candidate against one role (or all roles), without rewriting the
    rows that stay the same.

    1. The new rows are computed into a temporary table (``CREATE TEMPORARY TABLE ... AS``: no
       WAL, no index, a parallel plan on PostgreSQL), each beside the stored row's score, band
       and must-haves (a left join).
    2. ``UPDATE matches ... FROM`` it, only where a stored value differs (``IS DISTINCT FROM``
       on every column but ``computed_at``): an unchanged row gets no new version and leaves no
       dead tuple; and an ``UPDATE`` that keeps the keys skips the two foreign-key checks a
       re-``INSERT`` ran per row. Candidates without a stored row get one.
    3. The band changes (a ``match.band_changed`` event each) are read from the temporary table
       alone, after the writes, since the events' numbering lock must be taken last.

    Measured with bench.scale (see the README's "Scale" section for the figures).
    """

    def __init__(self, session: Session, role_id: int | None) -> None:
        self.session = session
        self.role_id = role_id
        # A description of the temporary table for the statements that read it; ``run``
        # creates it from its query (create_temporary_table_as).
        self.table = sa.Table(
            "rescored",
            sa.MetaData(),
            *(sa.Column(c.name, c.type) for c in _MATCHES.columns if c.name in _SCORED_COLUMNS),
            sa.Column("old_score_hundredths", sa.Integer),
            sa.Column("old_band", sa.String(16)),
            sa.Column("old_must_haves_met", sa.Boolean),
        )

    def __enter__(self) -> _InPlace:
        return self

    def run(self, month: scoring.Month, now: datetime) -> Rescored:
        """Fill the table, then write what changed; (rows scored, rows written, 0 changes)."""
        dialect = _dialect(self.session)
        t, m = self.table, _MATCHES
        scored = _scores_select(dialect, self.role_id is not None, False).subquery("scored")
        new = dict(zip(_MATCH_COLUMNS, scored.c, strict=True))
        # The stored rows of the role alone: the planner cannot carry the role from the scored
        # rows (an aggregate's output) to this side, and joined all roles' rows (2,000,000 at a
        # million candidates, a 230 MB hash).
        of_role = () if self.role_id is None else (m.c.role_id == self.role_id,)
        fill = sa.select(
            *(new[name].label(name) for name in _SCORED_COLUMNS),
            m.c.score_hundredths.label("old_score_hundredths"),
            m.c.band.label("old_band"),
            m.c.must_haves_met.label("old_must_haves_met"),
        ).select_from(
            scored.outerjoin(
                m,
                sa.and_(
                    m.c.role_id == new["role_id"],
                    m.c.candidate_id == new["candidate_id"],
                    *of_role,
                ),
            )
        )
        params = _params(month, now, self.role_id, None)
        scored_count = create_temporary_table_as(self.session, t, fill, params)
        if dialect == "postgresql":
            self.session.execute(
                sa.text("ANALYZE rescored")
            )  # a million rows, not the default guess
        changed = sa.or_(
            *(
                m.c[name].is_distinct_from(t.c[name])
                for name in _SCORED_COLUMNS
                if name not in (*_MATCH_KEY, "computed_at")
            )
        )
        updated = self._count(
            sa.update(m)
            .where(
                m.c.role_id == t.c.role_id, m.c.candidate_id == t.c.candidate_id, *of_role, changed
            )
            .values({name: t.c[name] for name in _SCORED_COLUMNS if name not in _MATCH_KEY}),
            {},
        )
        inserted = self._count(
            sa.insert(m).from_select(
                [*_SCORED_COLUMNS, "candidate_name", "candidate_headline"],
                sa.select(
                    *(t.c[name] for name in _SCORED_COLUMNS), Candidate.name, Candidate.headline
                )
                .join(Candidate, Candidate.id == t.c.candidate_id)
                .where(t.c.old_band.is_(None)),
            ),
            {},
        )
        return Rescored(scored_count, 0, updated + inserted)

    def _count(self, statement: sa.Executable, params: dict[str, Any]) -> int:
        result = cast(
            sa.CursorResult[Any],
            self.session.execute(statement, params, execution_options={"preserve_rowcount": True}),
        )
        return max(result.rowcount, 0)

    def record_changes(self, now: datetime) -> int:
        """The events of the bands (or must-haves) that changed; how many."""
        t = self.table
        old = {
            "score_hundredths": t.c.old_score_hundredths,
            "band": t.c.old_band,
            "must_haves_met": t.c.old_must_haves_met,
        }
        return _band_change_events(
            self.session,
            t,
            t,
            old,
            now,
            t.c.old_band.is_not(None),
            sa.or_(t.c.old_band != t.c.band, t.c.old_must_haves_met != t.c.must_haves_met),
        )

    def __exit__(self, *exc: object) -> None:
        if exc[0] is None:
            self.table.drop(self.session.connection())


class _PreviousBands:
    """The bands of some matches before a rescoring, in a temporary table, to write a
    ``match.band_changed`` event for each one whose band or must-haves the rescoring changed,
    set-based (one ``INSERT ... SELECT`` joining the new rows to the old)."""

    def __init__(self, session: Session, criteria: Sequence[sa.ColumnElement[bool]] | None):
        self.session = session
        self.criteria = criteria
        self.table = sa.Table(
            "previous_bands",
            sa.MetaData(),
            sa.Column("role_id", sa.Integer, primary_key=True),
            sa.Column("candidate_id", sa.Uuid, primary_key=True),
            sa.Column("score_hundredths", sa.Integer),
            sa.Column("band", sa.String(16)),
            sa.Column("must_haves_met", sa.Boolean),
            prefixes=["TEMPORARY"],
        )

    def __enter__(self) -> _PreviousBands:
        if self.criteria is not None:
            t = self.table
            self.table.create(self.session.connection())
            self.session.execute(
                sa.insert(t).from_select(
                    [c.name for c in t.columns],
                    sa.select(*(_MATCHES.c[c.name] for c in t.columns)).where(*self.criteria),
                )
            )
        return self

    def record_changes(self, now: datetime) -> int:
        """The events of the bands that changed; how many."""
        if self.criteria is None:
            return 0
        m, p = _MATCHES, self.table
        return _band_change_events(
            self.session,
            m.join(p, sa.and_(p.c.role_id == m.c.role_id, p.c.candidate_id == m.c.candidate_id)),
            m,
            {name: p.c[name] for name in ("score_hundredths", "band", "must_haves_met")},
            now,
            sa.or_(p.c.band != m.c.band, p.c.must_haves_met != m.c.must_haves_met),
            *self.criteria,
        )

    def __exit__(self, *exc: object) -> None:
        if self.criteria is not None and exc[0] is None:
            self.table.drop(self.session.connection())


def _band_change_events(
    session: Session,
    source: sa.FromClause,
    new: sa.FromClause,
    old: dict[str, Any],
    now: datetime,
    *where: sa.ColumnElement[bool],
) -> int:
    """One ``match.band_changed`` event per row of ``source`` selected by ``where``, set-based:
    ``new`` gives the rescored row's columns, ``old`` the score, band and must-haves it had."""
    dialect = _dialect(session)
    roles = cast(sa.Table, Role.__table__)

    def state(columns: Any) -> dict[str, Any]:
        return {
            "score": sa.cast(columns["score_hundredths"], sa.Float) / 100,
            "band": columns["band"],
            "must_haves_met": events.sql_json_bool(dialect, columns["must_haves_met"]),
        }

    n = new.c
    candidate_id = events.sql_uuid_text(dialect, n.candidate_id)
    rows = (
        sa.select(
            events.sql_event_id(dialect),
            sa.literal("match.band_changed"),
            sa.literal("candidate"),
            candidate_id,
            events.sql_json_object(
                dialect,
                {
                    "candidate_id": candidate_id,
                    "role": roles.c.key,
                    "role_version": n.role_version,
                    "from": state(old),
                    "to": state(n),
                },
            ),
            sa.literal(now, UTCDateTime),
            events.sql_seq(n.role_id, n.candidate_id),
        )
        .select_from(source)
        .join(roles, roles.c.id == n.role_id)
        .where(*where)
    )
    return events.emit_from_select(session, rows)


def refresh_if_month_changed(session: Session, role_id: int, scored_month: int) -> bool:
    """Rescore the role if its stored matches were computed for an earlier month.

    Recency depends on the month, so stored scores go stale when it changes. Candidate writes
    always score for the current month, so a role whose full rescore (``scored_month``, from
    the cached catalog) is this month has no stale rows: the common case costs no query. When
    the month has moved on, the role row is locked (``FOR NO KEY UPDATE`` on PostgreSQL, which
    does not block match inserts' foreign-key checks) and re-read, so of several requests racing
    at the turn of the month only the first rescores. Returns whether this call rescored.
    """
    month = current_month()
    if scored_month >= month.index:
        return False
    locked = session.execute(
        sa.select(Role.scored_month).where(Role.id == role_id).with_for_update(key_share=True)
    ).scalar_one()
    if locked >= month.index:
        return False
    rescore_role(session, role_id, as_of=month)
    return True
