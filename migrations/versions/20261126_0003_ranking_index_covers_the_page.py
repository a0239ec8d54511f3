"""the ranking index covers the ranking page (PostgreSQL)

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26 14:20:00.000000

A page of ``GET /v1/roles/{key}/matches`` reads every column it shows from ``ix_matches_ranking``
itself (an index-only scan) instead of one heap page per row: 103 -> 4 buffers of ``matches``
for a 51-row page of the 100,000-candidate demo. SQLite has no INCLUDE: nothing to do there.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
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


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.drop_index("ix_matches_ranking", table_name="matches")
    op.create_index("ix_matches_ranking", "matches", _COLUMNS, postgresql_include=_INCLUDED)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.drop_index("ix_matches_ranking", table_name="matches")
    op.create_index("ix_matches_ranking", "matches", _COLUMNS)
