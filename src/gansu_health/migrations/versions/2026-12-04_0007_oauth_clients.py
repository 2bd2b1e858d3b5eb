"""oauth clients

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04 06:50:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass  # filled by the OAuth server work (identity/oauth)


def downgrade() -> None:
    pass
