"""electronic health card

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04 12:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None

BIGID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
TABLES = ['card_usage', 'card_code_use', 'card_sequence', 'card']


def upgrade() -> None:
    op.create_table('card',
    sa.Column('card_id', sa.String(length=64), nullable=False),
    sa.Column('node', sa.String(length=16), nullable=False),
    sa.Column('golden_id', sa.String(length=64), nullable=False),
    sa.Column('empi_id', sa.String(length=64), nullable=False),
    sa.Column('patient', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=8), nullable=False),
    sa.Column('active_golden', sa.String(length=64), nullable=True),
    sa.Column('issued_us', sa.BigInteger(), nullable=False),
    sa.Column('issued_by', sa.String(length=128), nullable=False),
    sa.Column('revoked_us', sa.BigInteger(), nullable=True),
    sa.Column('revoke_reason', sa.String(length=16), nullable=True),
    sa.Column('replaced_by', sa.String(length=64), nullable=True),
    sa.Column('factor', sa.String(length=96), nullable=True),
    sa.Column('factor_failures', sa.Integer(), nullable=False),
    sa.Column('factor_locked_us', sa.BigInteger(), nullable=True),
    sa.PrimaryKeyConstraint('card_id', name=op.f('pk_card'))
    )
    with op.batch_alter_table('card', schema=None) as batch_op:
        batch_op.create_index('uq_card_active_golden', ['active_golden'], unique=True)
        batch_op.create_index('ix_card_golden', ['golden_id'], unique=False)

    op.create_table('card_sequence',
    sa.Column('node', sa.String(length=16), nullable=False),
    sa.Column('last', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('node', name=op.f('pk_card_sequence'))
    )

    op.create_table('card_code_use',
    sa.Column('card_id', sa.String(length=64), nullable=False),
    sa.Column('nonce', sa.String(length=24), nullable=False),
    sa.Column('node', sa.String(length=16), nullable=False),
    sa.Column('used_us', sa.BigInteger(), nullable=False),
    sa.Column('expires_us', sa.BigInteger(), nullable=False),
    sa.Column('organization', sa.String(length=64), nullable=True),
    sa.PrimaryKeyConstraint('card_id', 'nonce', name=op.f('pk_card_code_use'))
    )

    op.create_table('card_usage',
    sa.Column('id', BIGID, autoincrement=True, nullable=False),
    sa.Column('node', sa.String(length=16), nullable=False),
    sa.Column('card_id', sa.String(length=64), nullable=False),
    sa.Column('golden_id', sa.String(length=64), nullable=False),
    sa.Column('step', sa.String(length=16), nullable=False),
    sa.Column('code_kind', sa.String(length=8), nullable=False),
    sa.Column('outcome', sa.String(length=16), nullable=False),
    sa.Column('organization', sa.String(length=64), nullable=True),
    sa.Column('actor', sa.String(length=128), nullable=False),
    sa.Column('actor_kind', sa.String(length=16), nullable=False),
    sa.Column('patient', sa.String(length=64), nullable=True),
    sa.Column('appointment', sa.String(length=64), nullable=True),
    sa.Column('at_us', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_card_usage'))
    )
    with op.batch_alter_table('card_usage', schema=None) as batch_op:
        batch_op.create_index('ix_card_usage_golden', ['golden_id', 'at_us'], unique=False)
        batch_op.create_index('ix_card_usage_card', ['card_id', 'at_us'], unique=False)


def downgrade() -> None:
    for table in TABLES:
        op.drop_table(table)
