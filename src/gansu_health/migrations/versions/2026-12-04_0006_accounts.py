"""accounts

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04 06:50:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

BIGID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table('account',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('node', sa.String(length=16), nullable=False),
    sa.Column('kind', sa.String(length=8), nullable=False),
    sa.Column('phone_enc', sa.Text(), nullable=True),
    sa.Column('phone_index', sa.String(length=64), nullable=True),
    sa.Column('username', sa.String(length=64), nullable=True),
    sa.Column('display_name', sa.String(length=128), nullable=True),
    sa.Column('password_hash', sa.Text(), nullable=True),
    sa.Column('totp_enc', sa.Text(), nullable=True),
    sa.Column('totp_last_step', sa.BigInteger(), nullable=True),
    sa.Column('patient_id', sa.String(length=64), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('failed_logins', sa.Integer(), nullable=False),
    sa.Column('locked_until_us', sa.BigInteger(), nullable=True),
    sa.Column('created_us', sa.BigInteger(), nullable=False),
    sa.Column('last_login_us', sa.BigInteger(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_account')),
    sa.UniqueConstraint('kind', 'phone_index', name='uq_account_kind_phone'),
    sa.UniqueConstraint('patient_id', name=op.f('uq_account_patient_id')),
    sa.UniqueConstraint('username', name=op.f('uq_account_username'))
    )
    op.create_table('account_member',
    sa.Column('account_id', sa.String(length=32), nullable=False),
    sa.Column('patient_id', sa.String(length=64), nullable=False),
    sa.Column('node', sa.String(length=16), nullable=False),
    sa.Column('relationship', sa.String(length=16), nullable=False),
    sa.Column('guardian', sa.Boolean(), nullable=False),
    sa.Column('created_us', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['account.id'], name=op.f('fk_account_member_account_id_account'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('account_id', 'patient_id', name=op.f('pk_account_member'))
    )
    op.create_index('ix_account_member_patient', 'account_member', ['patient_id'], unique=False)
    op.create_table('staff_role',
    sa.Column('id', BIGID, autoincrement=True, nullable=False),
    sa.Column('node', sa.String(length=16), nullable=False),
    sa.Column('account_id', sa.String(length=32), nullable=False),
    sa.Column('organization_id', sa.String(length=64), nullable=False),
    sa.Column('role', sa.String(length=32), nullable=False),
    sa.Column('practitioner_id', sa.String(length=64), nullable=True),
    sa.Column('region', sa.String(length=12), nullable=True),
    sa.Column('created_us', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['account.id'], name=op.f('fk_staff_role_account_id_account'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_staff_role')),
    sa.UniqueConstraint('account_id', 'organization_id', 'role', name='uq_staff_role_grant')
    )
    op.create_table('otp_challenge',
    sa.Column('id', BIGID, autoincrement=True, nullable=False),
    sa.Column('node', sa.String(length=16), nullable=False),
    sa.Column('phone_index', sa.String(length=64), nullable=False),
    sa.Column('code_hash', sa.String(length=64), nullable=False),
    sa.Column('created_us', sa.BigInteger(), nullable=False),
    sa.Column('expires_us', sa.BigInteger(), nullable=False),
    sa.Column('attempts', sa.SmallInteger(), nullable=False),
    sa.Column('consumed', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_otp_challenge'))
    )
    op.create_index('ix_otp_challenge_phone', 'otp_challenge', ['phone_index', 'created_us'], unique=False)
    op.create_index('ix_otp_challenge_expires', 'otp_challenge', ['expires_us'], unique=False)
    op.create_table('web_session',
    sa.Column('session_hash', sa.String(length=64), nullable=False),
    sa.Column('node', sa.String(length=16), nullable=False),
    sa.Column('account_id', sa.String(length=32), nullable=False),
    sa.Column('csrf_token', sa.String(length=64), nullable=False),
    sa.Column('mfa', sa.Boolean(), nullable=False),
    sa.Column('created_us', sa.BigInteger(), nullable=False),
    sa.Column('expires_us', sa.BigInteger(), nullable=False),
    sa.Column('revoked', sa.Boolean(), nullable=False),
    sa.Column('source_ip', sa.String(length=45), nullable=True),
    sa.Column('user_agent', sa.String(length=256), nullable=True),
    sa.ForeignKeyConstraint(['account_id'], ['account.id'], name=op.f('fk_web_session_account_id_account'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('session_hash', name=op.f('pk_web_session'))
    )
    op.create_index('ix_web_session_account', 'web_session', ['account_id'], unique=False)
    op.create_index('ix_web_session_expires', 'web_session', ['expires_us'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_web_session_expires', table_name='web_session')
    op.drop_index('ix_web_session_account', table_name='web_session')
    op.drop_table('web_session')
    op.drop_index('ix_otp_challenge_expires', table_name='otp_challenge')
    op.drop_index('ix_otp_challenge_phone', table_name='otp_challenge')
    op.drop_table('otp_challenge')
    op.drop_table('staff_role')
    op.drop_index('ix_account_member_patient', table_name='account_member')
    op.drop_table('account_member')
    op.drop_table('account')
