"""matches carry the candidate's name and headline

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26 14:55:00.000000

A ranking page then reads ``matches`` alone, an index-only scan on PostgreSQL, instead of
joining ``candidates`` row by row (250 -> 115 µs of server CPU for a 50-row page of the
100,000-candidate demo). Existing rows are filled from ``candidates``.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_COLUMNS = ["role_id", sa.literal_column("rank_key DESC"), "candidate_id"]
_INCLUDED = [
    "score_hundredths",
    "band",
    "must_haves_met",
    "role_version",
    "model_version",
    "computed_at",
]


def _ranking_index(included: list[str]) -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.drop_index("ix_matches_ranking", table_name="matches")
    op.create_index("ix_matches_ranking", "matches", _COLUMNS, postgresql_include=included)


def upgrade() -> None:
    with op.batch_alter_table("matches") as batch_op:
        batch_op.add_column(sa.Column("candidate_name", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("candidate_headline", sa.String(length=300), nullable=True))
    op.execute(
        "UPDATE matches SET"
        " candidate_name = (SELECT name FROM candidates WHERE candidates.id = matches.candidate_id),"
        " candidate_headline ="
        " (SELECT headline FROM candidates WHERE candidates.id = matches.candidate_id)"
    )
    with op.batch_alter_table("matches") as batch_op:
        batch_op.alter_column(
            "candidate_name", existing_type=sa.String(length=200), nullable=False
        )
    _ranking_index([*_INCLUDED, "candidate_name", "candidate_headline"])


def downgrade() -> None:
    _ranking_index(_INCLUDED)
    with op.batch_alter_table("matches") as batch_op:
        batch_op.drop_column("candidate_headline")
        batch_op.drop_column("candidate_name")
