"""audit

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25 17:54:58.326064
"""
from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

# audit_event is append-only: UPDATE is always refused, DELETE only while audit_head.purging is
# set (the retention purge sets it inside its own transaction).
PG_GUARD = """
CREATE FUNCTION audit_event_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND COALESCE((SELECT purging FROM audit_head WHERE id = 1), false) THEN
        RETURN NULL;
    END IF;
    RAISE EXCEPTION 'audit_event is append-only (% refused)', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END $$
"""
PG_TRIGGERS = [
    "CREATE TRIGGER audit_event_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_event "
    "FOR EACH STATEMENT EXECUTE FUNCTION audit_event_guard()",
]
SQLITE_TRIGGERS = [
    "CREATE TRIGGER audit_event_no_update BEFORE UPDATE ON audit_event "
    "BEGIN SELECT RAISE(ABORT, 'audit_event is append-only (UPDATE refused)'); END",
    "CREATE TRIGGER audit_event_no_delete BEFORE DELETE ON audit_event "
    "WHEN COALESCE((SELECT purging FROM audit_head WHERE id = 1), 0) = 0 "
    "BEGIN SELECT RAISE(ABORT, 'audit_event is append-only (DELETE refused)'); END",
]


def upgrade() -> None:
    op.create_table('audit_event',
    sa.Column('id', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('node', sa.String(length=16), nullable=False),
    sa.Column('recorded_us', sa.BigInteger(), nullable=False),
    sa.Column('actor_type', sa.String(length=32), nullable=False),
    sa.Column('actor_id', sa.String(length=64), nullable=True),
    sa.Column('actor_name', sa.String(length=128), nullable=True),
    sa.Column('patient_id', sa.String(length=64), nullable=True),
    sa.Column('action', sa.String(length=1), nullable=False),
    sa.Column('subtype', sa.String(length=32), nullable=False),
    sa.Column('resource_type', sa.String(length=64), nullable=True),
    sa.Column('resource_id', sa.String(length=64), nullable=True),
    sa.Column('query', sa.Text(), nullable=True),
    sa.Column('purpose_of_use', sa.String(length=32), nullable=True),
    sa.Column('outcome', sa.SmallInteger(), nullable=False),
    sa.Column('source_ip', sa.String(length=45), nullable=True),
    sa.Column('user_agent', sa.String(length=256), nullable=True),
    sa.Column('break_glass', sa.Boolean(), nullable=False),
    sa.Column('reason', sa.String(length=512), nullable=True),
    sa.Column('prev_hash', sa.String(length=64), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_event'))
    )
    with op.batch_alter_table('audit_event', schema=None) as batch_op:
        batch_op.create_index('ix_audit_event_patient', ['patient_id', 'id'], unique=False)

    op.create_table('audit_head',
    sa.Column('id', sa.SmallInteger(), autoincrement=False, nullable=False),
    sa.Column('node', sa.String(length=16), nullable=False),
    sa.Column('last_id', sa.BigInteger(), nullable=False),
    sa.Column('last_hash', sa.String(length=64), nullable=False),
    sa.Column('base_id', sa.BigInteger(), nullable=False),
    sa.Column('base_hash', sa.String(length=64), nullable=False),
    sa.Column('purging', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_head'))
    )
    if op.get_bind().dialect.name == 'postgresql':
        op.execute(PG_GUARD)
        for ddl in PG_TRIGGERS:
            op.execute(ddl)
    else:
        for ddl in SQLITE_TRIGGERS:
            op.execute(ddl)


def downgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        op.execute("DROP TRIGGER IF EXISTS audit_event_append_only ON audit_event")
        op.execute("DROP FUNCTION IF EXISTS audit_event_guard()")
    else:
        op.execute("DROP TRIGGER IF EXISTS audit_event_no_update")
        op.execute("DROP TRIGGER IF EXISTS audit_event_no_delete")
    op.drop_table('audit_head')
    with op.batch_alter_table('audit_event', schema=None) as batch_op:
        batch_op.drop_index('ix_audit_event_patient')

    op.drop_table('audit_event')
