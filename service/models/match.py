"""Stored match scores: one row per (role, candidate), the input of rankings; and the per-role
counts of those scores by exact value, the input of the role summary."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, PrimaryKeyConstraint, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from service.infra.orm import Base, UTCDateTime


class Match(Base):
    __tablename__ = "matches"
    # Keyed by candidate first: the key serves a candidate's matches and the erasure's cascade,
    # so no other index by candidate is written on every rescored row (migration 0012).
    __table_args__ = (PrimaryKeyConstraint("candidate_id", "role_id", name="pk_matches"),)
    role_id: Mapped[int] = mapped_column(ForeignKey("roles.id", ondelete="CASCADE"))
    candidate_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("candidates.id", ondelete="CASCADE")
    )
    role_version: Mapped[int]
    model_version: Mapped[str] = mapped_column(String(32))
    score_hundredths: Mapped[int]
    must_haves_met: Mapped[bool]
    band: Mapped[str] = mapped_column(String(16))
    # must_haves_met * 100000 + score_hundredths, so one descending key gives the ranking order.
    rank_key: Mapped[int]
    # Month (year*12 + month-1) that recency was computed against.
    as_of_month: Mapped[int]
    inputs_hash: Mapped[str] = mapped_column(String(64))
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Copies of the candidate's name and headline, so that a ranking page reads matches alone
    # (joining candidates cost PostgreSQL 250 against 115 µs a 50-row page). Written with every
    # score and every change of the profile (service.domain.matching.profile_changed); erased
    # with the candidate's matches.
    candidate_name: Mapped[str] = mapped_column(String(200))
    candidate_headline: Mapped[str | None] = mapped_column(String(300))


# The ranking order (must-haves met first, then score: one descending key), then candidate id
# ascending; the mixed directions need them in the index for a plain forward range scan. On
# PostgreSQL it also carries the two columns the page's filters read, so a filtered page skips
# rows in the index; the page's own 51 rows come from the heap. Not every column a page shows:
# that index was 668 MB at a million candidates, and a role's rescore writes an entry per row
# into it (migration 0012 has the figures).
Index(
    "ix_matches_ranking",
    Match.role_id,
    Match.rank_key.desc(),
    Match.candidate_id,
    postgresql_include=["score_hundredths", "must_haves_met"],
)


class RoleScoreCount(Base):
    """How many of the role's stored matches have exactly ``score_hundredths`` (0..10000), and
    how many of those meet every must-have.

    At most 10,001 rows per role whatever the number of candidates: the summary's count, mean,
    median, p90, must-haves met and histogram are exact sums over them
    (:mod:`service.domain.score_counts` keeps them in the transaction that writes the scores).
    Rows whose counts fell to zero stay (bounded by the number of scores).
    """

    __tablename__ = "role_score_counts"

    role_id: Mapped[int] = mapped_column(
        ForeignKey("roles.id", ondelete="CASCADE"), primary_key=True
    )
    score_hundredths: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    n: Mapped[int] = mapped_column(BigInteger, default=0)
    met: Mapped[int] = mapped_column(BigInteger, default=0)


class RoleScorePointCount(Base):
    """The same counts by whole point (``point`` = ``score_hundredths // 100``, 0..100), with
    the sum of the scores: at most 101 rows per role, so that the summary reads its totals and
    locates a percentile's point without summing 10,001 counters on every read."""

    __tablename__ = "role_score_point_counts"

    role_id: Mapped[int] = mapped_column(
        ForeignKey("roles.id", ondelete="CASCADE"), primary_key=True
    )
    point: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    n: Mapped[int] = mapped_column(BigInteger, default=0)
    met: Mapped[int] = mapped_column(BigInteger, default=0)
    total: Mapped[int] = mapped_column(BigInteger, default=0)
