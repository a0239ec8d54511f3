"""tamper evidence: the audit trail's seals, and triggers that keep the history append-only

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 02:50:00.000000

``audit_seals`` on both databases. On PostgreSQL only, one trigger function,
``rolefit_guard_history()``, refuses UPDATE, DELETE (row triggers) and TRUNCATE (statement
triggers) on ``audit_events``, ``transitions`` and ``audit_seals``; the single exception is an
UPDATE of ``transitions`` that only clears ``note`` while the transaction-scoped setting
``rolefit.history_rewrite`` is ``erasure`` (service.infra.tamper_guard). SQLite gets no
triggers: the seals are its only evidence. The SQL is written out here, not imported, so this
revision stays what it was when it ran.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import service.infra.orm

revision: str = '0009'
down_revision: str | Sequence[str] | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

GUARDED = ("audit_events", "transitions", "audit_seals")

GUARD_FUNCTION = """
CREATE FUNCTION rolefit_guard_history() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- Nested, not one AND: PL/pgSQL does not promise to stop at the first false operand, and
    -- NEW has no note outside transitions (nor any row at all in a TRUNCATE).
    IF TG_OP = 'UPDATE' AND TG_TABLE_NAME = 'transitions' THEN
        IF coalesce(current_setting('rolefit.history_rewrite', true), '') = 'erasure' THEN
            IF NEW.note IS NULL AND to_jsonb(NEW) - 'note' = to_jsonb(OLD) - 'note' THEN
                RETURN NEW;
            END IF;
        END IF;
    END IF;
    RAISE EXCEPTION 'rolefit: % on % refused: the history is append-only', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'only erasure may change a row (it clears a transition''s note), '
                     'through service.infra.tamper_guard.allow_history_rewrite';
END
$$
"""


def upgrade() -> None:
    op.create_table('audit_seals',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('first_event_id', sa.BigInteger(), nullable=False),
    sa.Column('last_event_id', sa.BigInteger(), nullable=False),
    sa.Column('event_count', sa.BigInteger(), nullable=False),
    sa.Column('events_sha256', sa.String(length=64), nullable=False),
    sa.Column('previous_sha256', sa.String(length=64), nullable=False),
    sa.Column('chain_sha256', sa.String(length=64), nullable=False),
    sa.Column('sealed_at', service.infra.orm.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_seals')),
    sa.UniqueConstraint('previous_sha256', name=op.f('uq_audit_seals_previous_sha256'))
    )
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(GUARD_FUNCTION)
    for table in GUARDED:
        op.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table}"
            " FOR EACH ROW EXECUTE FUNCTION rolefit_guard_history()"
        )
        op.execute(
            f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table}"
            " FOR EACH STATEMENT EXECUTE FUNCTION rolefit_guard_history()"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in GUARDED:
            op.execute(f"DROP TRIGGER {table}_no_truncate ON {table}")
            op.execute(f"DROP TRIGGER {table}_append_only ON {table}")
        op.execute("DROP FUNCTION rolefit_guard_history()")
    op.drop_table('audit_seals')
