"""funnel counts: a job's funnel read from counters every transition keeps

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 23:20:00

Three counter tables (job_stage_counts, job_progress_counts, job_stay_counts) and each
application's furthest and hired stage positions, filled from the existing applications and
transitions by the same definitions as service.domain.funnel_counts.recount (written out here in
SQL, so that this migration keeps doing what it did whatever the code becomes).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SECONDS_PER_DAY = 86400


def upgrade() -> None:
    with op.batch_alter_table("applications") as batch:
        batch.add_column(
            sa.Column("furthest_position", sa.Integer(), nullable=False, server_default="0")
        )
        batch.add_column(sa.Column("hired_position", sa.Integer(), nullable=True))
    op.create_table(
        "job_stage_counts",
        sa.Column("job_id", sa.Uuid(), nullable=False),
        sa.Column("stage_id", sa.Uuid(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("n", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["job_id"], ["jobs.id"], name=op.f("fk_job_stage_counts_job_id_jobs")
        ),
        sa.ForeignKeyConstraint(
            ["stage_id"], ["job_stages.id"], name=op.f("fk_job_stage_counts_stage_id_job_stages")
        ),
        sa.PrimaryKeyConstraint(
            "job_id", "stage_id", "status", "channel", name=op.f("pk_job_stage_counts")
        ),
    )
    op.create_table(
        "job_progress_counts",
        sa.Column("job_id", sa.Uuid(), nullable=False),
        sa.Column("furthest_position", sa.Integer(), nullable=False),
        sa.Column("hired_there", sa.Boolean(), nullable=False),
        sa.Column("n", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["job_id"], ["jobs.id"], name=op.f("fk_job_progress_counts_job_id_jobs")
        ),
        sa.PrimaryKeyConstraint(
            "job_id", "furthest_position", "hired_there", name=op.f("pk_job_progress_counts")
        ),
    )
    op.create_table(
        "job_stay_counts",
        sa.Column("job_id", sa.Uuid(), nullable=False),
        sa.Column("stage_id", sa.Uuid(), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("bucket", sa.BigInteger(), nullable=False),
        sa.Column("n", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["job_id"], ["jobs.id"], name=op.f("fk_job_stay_counts_job_id_jobs")
        ),
        sa.ForeignKeyConstraint(
            ["stage_id"], ["job_stages.id"], name=op.f("fk_job_stay_counts_stage_id_job_stages")
        ),
        sa.PrimaryKeyConstraint(
            "job_id", "stage_id", "width", "bucket", name=op.f("pk_job_stay_counts")
        ),
    )
    _backfill()


def _backfill() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        seconds = "CAST(strftime('%s', substr(t.occurred_at, 1, 19)) AS INTEGER)"
    else:
        seconds = "CAST(floor(extract(epoch FROM t.occurred_at)) AS BIGINT)"
    op.execute(
        """
        UPDATE applications SET
          furthest_position = COALESCE((
            SELECT max(s.position) FROM transitions t JOIN job_stages s ON s.id = t.to_stage_id
            WHERE t.application_id = applications.id), 0),
          hired_position = (
            SELECT max(s.position) FROM transitions t JOIN job_stages s ON s.id = t.to_stage_id
            WHERE t.application_id = applications.id AND t.kind = 'hired')
        """
    )
    op.execute(
        """
        INSERT INTO job_stage_counts (job_id, stage_id, status, channel, n)
        SELECT job_id, stage_id, status, source_channel, count(*) FROM applications
        GROUP BY job_id, stage_id, status, source_channel
        """
    )
    op.execute(
        """
        INSERT INTO job_progress_counts (job_id, furthest_position, hired_there, n)
        SELECT job_id, furthest_position,
               CASE WHEN hired_position = furthest_position THEN TRUE ELSE FALSE END, count(*)
        FROM applications
        GROUP BY job_id, furthest_position,
                 CASE WHEN hired_position = furthest_position THEN TRUE ELSE FALSE END
        """
    )
    stays = f"""
        SELECT job_id, stage_id, left_at - entered AS seconds FROM (
          SELECT t.job_id, t.to_stage_id AS stage_id, t.to_status, {seconds} AS entered,
                 lead({seconds}) OVER (PARTITION BY t.application_id ORDER BY t.seq) AS left_at
          FROM transitions t) steps
        WHERE to_status = 'active' AND left_at IS NOT NULL
    """
    for width in (1, SECONDS_PER_DAY):
        bucket = (
            f"CASE WHEN seconds >= 0 THEN seconds / {width} "
            f"ELSE -((-seconds + {width - 1}) / {width}) END"
        )
        op.execute(
            f"""
            INSERT INTO job_stay_counts (job_id, stage_id, width, bucket, n)
            SELECT job_id, stage_id, {width}, {bucket}, count(*) FROM ({stays}) stays
            GROUP BY job_id, stage_id, {bucket}
            """
        )


def downgrade() -> None:
    op.drop_table("job_stay_counts")
    op.drop_table("job_progress_counts")
    op.drop_table("job_stage_counts")
    with op.batch_alter_table("applications") as batch:
        batch.drop_column("hired_position")
        batch.drop_column("furthest_position")
