"""lean match indexes: a role's rescore writes two small index entries a row, not three

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03 13:40:00

Every rescored match is a new row version with an entry in every index of ``matches``. At
1,000,000 candidates (bench.scale, PostgreSQL with 128 MB of shared buffers) the role change's
``UPDATE`` wrote them into three indexes, one of 668 MB:

- ``pk_matches`` becomes (candidate_id, role_id): it serves what ``ix_matches_candidate_id``
  served (a candidate's matches, the cascade of an erasure), which goes;
- ``ix_matches_ranking`` keeps its key and carries only the two columns the page's filters read
  (``score_hundredths``, ``must_haves_met``): 95 MB instead of 668. A ranking page reads its
  51 rows from the heap (0.4 ms cold, EXPLAIN ANALYZE) instead of an index-only scan.

The ``UPDATE`` of the million rows went from 14.4 to 10.6-13.5 s. SQLite has no INCLUDE; its
primary key and index change the same way.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | Sequence[str] | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_RANKING = ["role_id", sa.literal_column("rank_key DESC"), "candidate_id"]
_WIDE = [
    "score_hundredths",
    "band",
    "must_haves_met",
    "role_version",
    "model_version",
    "computed_at",
    "candidate_name",
    "candidate_headline",
]
_LEAN = ["score_hundredths", "must_haves_met"]


def _ranking_index(included: list[str]) -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.drop_index("ix_matches_ranking", table_name="matches")
    op.create_index("ix_matches_ranking", "matches", _RANKING, postgresql_include=included)


def upgrade() -> None:
    with op.batch_alter_table("matches") as batch_op:
        batch_op.drop_index("ix_matches_candidate_id")
        batch_op.drop_constraint("pk_matches", type_="primary")
        batch_op.create_primary_key("pk_matches", ["candidate_id", "role_id"])
    _ranking_index(_LEAN)


def downgrade() -> None:
    _ranking_index(_WIDE)
    with op.batch_alter_table("matches") as batch_op:
        batch_op.drop_constraint("pk_matches", type_="primary")
        batch_op.create_primary_key("pk_matches", ["role_id", "candidate_id"])
        batch_op.create_index("ix_matches_candidate_id", ["candidate_id"], unique=False)
