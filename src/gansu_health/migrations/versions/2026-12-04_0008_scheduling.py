"""scheduling

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04 06:50:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None

BIGID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
TABLES = ['sched_violation', 'sched_template', 'sched_suspension', 'sched_slot', 'sched_session', 'sched_resource', 'sched_policy', 'sched_person_claim', 'sched_number', 'sched_appointment']


def upgrade() -> None:
    op.create_table('sched_appointment',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('node', sa.String(length=16), nullable=False),
    sa.Column('session_id', sa.BigInteger(), nullable=False),
    sa.Column('slot_id', sa.BigInteger(), nullable=True),
    sa.Column('number_seq', sa.Integer(), nullable=True),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('patient', sa.String(length=64), nullable=False),
    sa.Column('institution', sa.String(length=64), nullable=False),
    sa.Column('department', sa.String(length=64), nullable=False),
    sa.Column('day', sa.String(length=10), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('hold_expires_us', sa.BigInteger(), nullable=True),
    sa.Column('reason', sa.String(length=64), nullable=True),
    sa.Column('rescheduled_from', sa.String(length=64), nullable=True),
    sa.Column('created_us', sa.BigInteger(), nullable=False),
    sa.Column('updated_us', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sched_appointment'))
    )
    with op.batch_alter_table('sched_appointment', schema=None) as batch_op:
        batch_op.create_index('ix_sched_appointment_patient', ['patient', 'day'], unique=False)
        batch_op.create_index('ix_sched_appointment_session', ['session_id', 'status', 'created_us'], unique=False)
        batch_op.create_index('ix_sched_appointment_status', ['status', 'hold_expires_us'], unique=False)

    op.create_table('sched_number',
    sa.Column('id', BIGID, autoincrement=True, nullable=False),
    sa.Column('node', sa.String(length=16), nullable=False),
    sa.Column('session_id', sa.BigInteger(), nullable=False),
    sa.Column('slot_id', sa.BigInteger(), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('status', sa.String(length=8), nullable=False),
    sa.Column('appointment', sa.String(length=64), nullable=True),
    sa.Column('updated_us', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sched_number'))
    )
    with op.batch_alter_table('sched_number', schema=None) as batch_op:
        batch_op.create_index('ix_sched_number_claim', ['session_id', 'channel', 'status', 'seq'], unique=False)
        batch_op.create_index('ix_sched_number_slot', ['slot_id', 'status'], unique=False)
        batch_op.create_index('uq_sched_number_appointment', ['appointment'], unique=True)

    op.create_table('sched_person_claim',
    sa.Column('patient', sa.String(length=64), nullable=False),
    sa.Column('day', sa.String(length=10), nullable=False),
    sa.Column('scope', sa.String(length=96), nullable=False),
    sa.Column('ordinal', sa.Integer(), nullable=False),
    sa.Column('node', sa.String(length=16), nullable=False),
    sa.Column('appointment', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('patient', 'day', 'scope', 'ordinal', name=op.f('pk_sched_person_claim'))
    )
    with op.batch_alter_table('sched_person_claim', schema=None) as batch_op:
        batch_op.create_index('ix_sched_person_claim_appointment', ['appointment'], unique=False)

    op.create_table('sched_policy',
    sa.Column('institution', sa.String(length=64), nullable=False),
    sa.Column('node', sa.String(length=16), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('updated_us', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('institution', name=op.f('pk_sched_policy'))
    )
    op.create_table('sched_resource',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('node', sa.String(length=16), nullable=False),
    sa.Column('kind', sa.String(length=8), nullable=False),
    sa.Column('actor', sa.String(length=128), nullable=False),
    sa.Column('institution', sa.String(length=64), nullable=False),
    sa.Column('department', sa.String(length=64), nullable=False),
    sa.Column('practitioner', sa.String(length=64), nullable=True),
    sa.Column('location', sa.String(length=64), nullable=True),
    sa.Column('title', sa.String(length=32), nullable=True),
    sa.Column('modality', sa.String(length=16), nullable=True),
    sa.Column('display', sa.String(length=128), nullable=False),
    sa.Column('created_us', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sched_resource'))
    )
    with op.batch_alter_table('sched_resource', schema=None) as batch_op:
        batch_op.create_index('ix_sched_resource_department', ['department'], unique=False)
        batch_op.create_index('uq_sched_resource_actor', ['actor'], unique=True)

    op.create_table('sched_session',
    sa.Column('id', BIGID, autoincrement=True, nullable=False),
    sa.Column('node', sa.String(length=16), nullable=False),
    sa.Column('resource_id', sa.String(length=64), nullable=False),
    sa.Column('institution', sa.String(length=64), nullable=False),
    sa.Column('department', sa.String(length=64), nullable=False),
    sa.Column('day', sa.String(length=10), nullable=False),
    sa.Column('period', sa.String(length=10), nullable=False),
    sa.Column('start_us', sa.BigInteger(), nullable=False),
    sa.Column('end_us', sa.BigInteger(), nullable=False),
    sa.Column('slot_minutes', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('release_us', sa.BigInteger(), nullable=False),
    sa.Column('reserve_release_us', sa.BigInteger(), nullable=False),
    sa.Column('reserve_return_us', sa.BigInteger(), nullable=False),
    sa.Column('reserve_returned', sa.Boolean(), nullable=False),
    sa.Column('fee_cents', sa.Integer(), nullable=False),
    sa.Column('stop_reason', sa.String(length=255), nullable=True),
    sa.Column('created_us', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sched_session'))
    )
    with op.batch_alter_table('sched_session', schema=None) as batch_op:
        batch_op.create_index('ix_sched_session_department', ['department', 'day'], unique=False)
        batch_op.create_index('ix_sched_session_institution', ['institution', 'day'], unique=False)
        batch_op.create_index('uq_sched_session_key', ['resource_id', 'day', 'period'], unique=True)

    op.create_table('sched_slot',
    sa.Column('id', BIGID, autoincrement=True, nullable=False),
    sa.Column('node', sa.String(length=16), nullable=False),
    sa.Column('session_id', sa.BigInteger(), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('start_us', sa.BigInteger(), nullable=False),
    sa.Column('end_us', sa.BigInteger(), nullable=False),
    sa.Column('fid', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sched_slot'))
    )
    with op.batch_alter_table('sched_slot', schema=None) as batch_op:
        batch_op.create_index('ix_sched_slot_session', ['session_id', 'seq'], unique=False)
        batch_op.create_index('uq_sched_slot_fid', ['fid'], unique=True)

    op.create_table('sched_suspension',
    sa.Column('id', BIGID, autoincrement=True, nullable=False),
    sa.Column('node', sa.String(length=16), nullable=False),
    sa.Column('patient', sa.String(length=64), nullable=False),
    sa.Column('from_us', sa.BigInteger(), nullable=False),
    sa.Column('until_us', sa.BigInteger(), nullable=False),
    sa.Column('reason', sa.String(length=255), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sched_suspension'))
    )
    with op.batch_alter_table('sched_suspension', schema=None) as batch_op:
        batch_op.create_index('ix_sched_suspension_patient', ['patient', 'until_us'], unique=False)

    op.create_table('sched_template',
    sa.Column('id', BIGID, autoincrement=True, nullable=False),
    sa.Column('node', sa.String(length=16), nullable=False),
    sa.Column('resource_id', sa.String(length=64), nullable=False),
    sa.Column('weekday', sa.Integer(), nullable=False),
    sa.Column('period', sa.String(length=10), nullable=False),
    sa.Column('start_time', sa.String(length=5), nullable=False),
    sa.Column('end_time', sa.String(length=5), nullable=False),
    sa.Column('slot_minutes', sa.Integer(), nullable=False),
    sa.Column('per_slot', sa.Integer(), nullable=False),
    sa.Column('quotas', sa.Text(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('updated_us', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sched_template'))
    )
    with op.batch_alter_table('sched_template', schema=None) as batch_op:
        batch_op.create_index('uq_sched_template_key', ['resource_id', 'weekday', 'period'], unique=True)

    op.create_table('sched_violation',
    sa.Column('id', BIGID, autoincrement=True, nullable=False),
    sa.Column('node', sa.String(length=16), nullable=False),
    sa.Column('patient', sa.String(length=64), nullable=False),
    sa.Column('appointment', sa.String(length=64), nullable=False),
    sa.Column('institution', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('at_us', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sched_violation'))
    )
    with op.batch_alter_table('sched_violation', schema=None) as batch_op:
        batch_op.create_index('ix_sched_violation_patient', ['patient', 'at_us'], unique=False)


def downgrade() -> None:
    for table in TABLES:
        op.drop_table(table)
