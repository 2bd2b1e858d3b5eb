"""oauth tokens

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04 06:50:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('oauth_token',
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('token_type', sa.String(length=8), nullable=False),
    sa.Column('node', sa.String(length=16), nullable=False),
    sa.Column('client_id', sa.String(length=64), nullable=False),
    sa.Column('principal_kind', sa.String(length=16), nullable=False),
    sa.Column('subject', sa.String(length=64), nullable=False),
    sa.Column('scope', sa.Text(), nullable=False),
    sa.Column('patient', sa.String(length=64), nullable=True),
    sa.Column('issued_us', sa.BigInteger(), nullable=False),
    sa.Column('expires_us', sa.BigInteger(), nullable=False),
    sa.Column('revoked', sa.Boolean(), nullable=False),
    sa.Column('pair_hash', sa.String(length=64), nullable=True),
    sa.PrimaryKeyConstraint('token_hash', name=op.f('pk_oauth_token'))
    )
    op.create_index('ix_oauth_token_subject', 'oauth_token', ['subject'], unique=False)
    op.create_index('ix_oauth_token_expires', 'oauth_token', ['expires_us'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_oauth_token_expires', table_name='oauth_token')
    op.drop_index('ix_oauth_token_subject', table_name='oauth_token')
    op.drop_table('oauth_token')
