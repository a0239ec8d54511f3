"""the sync index carries the id: an ``updated_after`` page without a heap visit per hit

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03 14:10:00

An ``updated_after`` page of candidates collects the ids updated since the stamp, then takes the
first by id (``service.infra.search``). Through ``ix_candidates_updated_at`` each hit cost a
heap visit for its id: 68 ms for a sync of the latest 10 % at 1,000,000 candidates (99,500
hits, 3,300 heap pages; EXPLAIN ANALYZE). ``ix_candidates_updated_at_id`` (updated_at, id)
replaces it: an index-only scan, 26-30 ms. It serves everything the old index did.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0013"
down_revision: str | Sequence[str] | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_candidates_updated_at_id", "candidates", ["updated_at", "id"])
    op.drop_index("ix_candidates_updated_at", table_name="candidates")


def downgrade() -> None:
    op.create_index("ix_candidates_updated_at", "candidates", ["updated_at"])
    op.drop_index("ix_candidates_updated_at_id", table_name="candidates")
