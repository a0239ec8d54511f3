"""constant-time summary and trigram search: role_score_counts, pg_trgm indexes for q

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 02:50:00

- ``role_score_counts``: each role's stored matches counted by exact score (and how many of
  them meet every must-have), the role summary's input; filled from the existing matches by the
  definition of ``service.domain.score_counts.recount`` (written out here in SQL, so that this
  migration keeps doing what it did whatever the code becomes).
- On PostgreSQL, ``pg_trgm`` and a trigram GIN index on each expression ``q`` searches
  (``lower(column) LIKE '%needle%'``): candidates' name and headline, jobs' title, department
  and location. SQLite keeps its scan.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (index, table, column) of the trigram indexes.
TRIGRAM_INDEXES = (
    ("ix_candidates_name_trgm", "candidates", "name"),
    ("ix_candidates_headline_trgm", "candidates", "headline"),
    ("ix_jobs_title_trgm", "jobs", "title"),
    ("ix_jobs_department_trgm", "jobs", "department"),
    ("ix_jobs_location_trgm", "jobs", "location"),
)


def upgrade() -> None:
    op.create_table(
        "role_score_counts",
        sa.Column("role_id", sa.Integer(), nullable=False),
        sa.Column("score_hundredths", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("n", sa.BigInteger(), nullable=False),
        sa.Column("met", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["role_id"],
            ["roles.id"],
            name=op.f("fk_role_score_counts_role_id_roles"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("role_id", "score_hundredths", name=op.f("pk_role_score_counts")),
    )
    op.execute(
        """
        INSERT INTO role_score_counts (role_id, score_hundredths, n, met)
        SELECT role_id, score_hundredths, count(*),
               sum(CASE WHEN must_haves_met THEN 1 ELSE 0 END)
        FROM matches GROUP BY role_id, score_hundredths
        """
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        for name, table, column in TRIGRAM_INDEXES:
            op.execute(
                f"CREATE INDEX {name} ON {table} USING gin (lower({column}) gin_trgm_ops)"
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for name, _table, _column in TRIGRAM_INDEXES:
            op.execute(f"DROP INDEX IF EXISTS {name}")
        # The extension stays: other schemas of the database may use it.
    op.drop_table("role_score_counts")
