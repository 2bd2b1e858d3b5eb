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


def upgrade() -> None:
    pass  # filled by the booking work (scheduling)


def downgrade() -> None:
    pass
