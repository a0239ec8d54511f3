"""job rank keys, count stamps, score counts by point: constant-cost job page, funnel, summary

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02 06:20:00

- ``applications.rank_key``: a copy of the rank key of the candidate's stored match for the
  job's role (kept by every rescoring), and ``ix_applications_job_rank`` (job, rank key
  descending, id): the job's ranked view reads its own applications in order. Filled here from
  the stored matches; erased applications keep none.
- ``job_count_stamps``: a random stamp per job, replaced by every change of the job's funnel
  counts; a cached funnel is checked against it. Every job with applications gets one here.
- ``role_score_point_counts``: the role summary's counts summed by whole point (at most 101
  rows a role, with the sum of the scores), filled from the stored matches as
  ``service.domain.score_counts`` defines them (written out here in SQL).
- ``ix_events_unsequenced`` goes: the commit numbers its own events by id, and the partial
  index kept an entry per event until VACUUM, which the commit used to walk under the
  numbering lock.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | Sequence[str] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("applications", sa.Column("rank_key", sa.Integer(), nullable=True))
    op.execute(
        """
        UPDATE applications SET rank_key = (
            SELECT m.rank_key FROM matches m JOIN jobs j ON m.role_id = j.role_id
            WHERE j.id = applications.job_id AND m.candidate_id = applications.candidate_id
        )
        WHERE candidate_id IS NOT NULL
        """
    )
    op.create_index(
        "ix_applications_job_rank",
        "applications",
        ["job_id", sa.literal_column("rank_key DESC"), "id"],
        unique=False,
    )

    op.create_table(
        "job_count_stamps",
        sa.Column("job_id", sa.Uuid(), nullable=False),
        sa.Column("stamp", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["job_id"], ["jobs.id"], name=op.f("fk_job_count_stamps_job_id_jobs")
        ),
        sa.PrimaryKeyConstraint("job_id", name=op.f("pk_job_count_stamps")),
    )
    # The Uuid type is a native uuid on PostgreSQL and 32 hex digits on SQLite.
    random_uuid = (
        "gen_random_uuid()"
        if op.get_bind().dialect.name == "postgresql"
        else "lower(hex(randomblob(16)))"
    )
    op.execute(
        f"INSERT INTO job_count_stamps (job_id, stamp)"
        f" SELECT job_id, {random_uuid} FROM (SELECT DISTINCT job_id FROM job_stage_counts) counted"
    )

    op.create_table(
        "role_score_point_counts",
        sa.Column("role_id", sa.Integer(), nullable=False),
        sa.Column("point", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("n", sa.BigInteger(), nullable=False),
        sa.Column("met", sa.BigInteger(), nullable=False),
        sa.Column("total", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["role_id"],
            ["roles.id"],
            name=op.f("fk_role_score_point_counts_role_id_roles"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("role_id", "point", name=op.f("pk_role_score_point_counts")),
    )
    op.execute(
        """
        INSERT INTO role_score_point_counts (role_id, point, n, met, total)
        SELECT role_id, score_hundredths / 100, count(*),
               sum(CASE WHEN must_haves_met THEN 1 ELSE 0 END), sum(score_hundredths)
        FROM matches GROUP BY role_id, score_hundredths / 100
        """
    )

    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_events_unsequenced",
            postgresql_where=sa.text("seq IS NULL"),
            sqlite_where=sa.text("seq IS NULL"),
        )


def downgrade() -> None:
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.create_index(
            "ix_events_unsequenced",
            ["id"],
            unique=False,
            postgresql_where=sa.text("seq IS NULL"),
            sqlite_where=sa.text("seq IS NULL"),
        )
    op.drop_table("role_score_point_counts")
    op.drop_table("job_count_stamps")
    op.drop_index("ix_applications_job_rank", table_name="applications")
    with op.batch_alter_table("applications", schema=None) as batch_op:
        batch_op.drop_column("rank_key")
