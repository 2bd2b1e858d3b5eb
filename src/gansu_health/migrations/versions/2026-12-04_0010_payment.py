"""payments and notifications

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04 14:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

BIGID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
TABLES = ['pay_sandbox_txn', 'pay_refund', 'pay_payment', 'pay_invoice_item', 'pay_invoice',
          'pay_callback', 'notify_message', 'notify_delivery']


def upgrade() -> None:
    op.create_table('notify_delivery',
    sa.Column('id', BIGID, autoincrement=True, nullable=False),
    sa.Column('node', sa.String(length=16), nullable=False),
    sa.Column('message', sa.String(length=64), nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('status', sa.String(length=8), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_us', sa.BigInteger(), nullable=False),
    sa.Column('last_error', sa.String(length=255), nullable=True),
    sa.Column('sent_us', sa.BigInteger(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notify_delivery'))
    )
    op.create_index('ix_notify_delivery_due', 'notify_delivery', ['status', 'next_us'], unique=False)
    op.create_index('uq_notify_delivery_channel', 'notify_delivery', ['message', 'channel'], unique=True)
    op.create_table('notify_message',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('node', sa.String(length=16), nullable=False),
    sa.Column('source', sa.String(length=128), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('patient', sa.String(length=64), nullable=False),
    sa.Column('about', sa.String(length=128), nullable=True),
    sa.Column('title', sa.String(length=128), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('created_us', sa.BigInteger(), nullable=False),
    sa.Column('updated_us', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notify_message'))
    )
    op.create_index('ix_notify_message_patient', 'notify_message', ['patient', 'created_us'], unique=False)
    op.create_index('uq_notify_message_source', 'notify_message', ['source', 'kind', 'patient'], unique=True)
    op.create_table('pay_callback',
    sa.Column('gateway', sa.String(length=32), nullable=False),
    sa.Column('nonce', sa.String(length=64), nullable=False),
    sa.Column('node', sa.String(length=16), nullable=False),
    sa.Column('event_id', sa.String(length=64), nullable=False),
    sa.Column('received_us', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('gateway', 'nonce', name=op.f('pk_pay_callback'))
    )
    op.create_table('pay_invoice',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('node', sa.String(length=16), nullable=False),
    sa.Column('patient', sa.String(length=64), nullable=False),
    sa.Column('institution', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('appointment', sa.String(length=64), nullable=True),
    sa.Column('amount_fen', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('created_us', sa.BigInteger(), nullable=False),
    sa.Column('updated_us', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_pay_invoice'))
    )
    op.create_index('ix_pay_invoice_patient', 'pay_invoice', ['patient', 'created_us'], unique=False)
    op.create_index('uq_pay_invoice_appointment', 'pay_invoice', ['appointment'], unique=True)
    op.create_table('pay_invoice_item',
    sa.Column('charge_item', sa.String(length=64), nullable=False),
    sa.Column('node', sa.String(length=16), nullable=False),
    sa.Column('invoice', sa.String(length=64), nullable=False),
    sa.Column('amount_fen', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('charge_item', name=op.f('pk_pay_invoice_item'))
    )
    op.create_index('ix_pay_invoice_item_invoice', 'pay_invoice_item', ['invoice'], unique=False)
    op.create_table('pay_payment',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('node', sa.String(length=16), nullable=False),
    sa.Column('invoice', sa.String(length=64), nullable=False),
    sa.Column('patient', sa.String(length=64), nullable=False),
    sa.Column('amount_fen', sa.Integer(), nullable=False),
    sa.Column('gateway', sa.String(length=32), nullable=False),
    sa.Column('gateway_txn', sa.String(length=64), nullable=True),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('message', sa.String(length=255), nullable=True),
    sa.Column('idem_scope', sa.String(length=160), nullable=False),
    sa.Column('idem_key', sa.String(length=128), nullable=False),
    sa.Column('notice', sa.String(length=64), nullable=False),
    sa.Column('created_us', sa.BigInteger(), nullable=False),
    sa.Column('updated_us', sa.BigInteger(), nullable=False),
    sa.Column('settled_us', sa.BigInteger(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_pay_payment'))
    )
    op.create_index('ix_pay_payment_invoice', 'pay_payment', ['invoice', 'status'], unique=False)
    op.create_index('ix_pay_payment_settled', 'pay_payment', ['settled_us'], unique=False)
    op.create_index('uq_pay_payment_key', 'pay_payment', ['idem_scope', 'idem_key'], unique=True)
    op.create_table('pay_refund',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('node', sa.String(length=16), nullable=False),
    sa.Column('payment', sa.String(length=64), nullable=False),
    sa.Column('amount_fen', sa.Integer(), nullable=False),
    sa.Column('reason', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('gateway_txn', sa.String(length=64), nullable=True),
    sa.Column('message', sa.String(length=255), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_us', sa.BigInteger(), nullable=False),
    sa.Column('notice', sa.String(length=64), nullable=True),
    sa.Column('created_us', sa.BigInteger(), nullable=False),
    sa.Column('settled_us', sa.BigInteger(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_pay_refund'))
    )
    op.create_index('ix_pay_refund_due', 'pay_refund', ['status', 'next_us'], unique=False)
    op.create_index('uq_pay_refund_payment', 'pay_refund', ['payment'], unique=True)
    op.create_table('pay_sandbox_txn',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('node', sa.String(length=16), nullable=False),
    sa.Column('kind', sa.String(length=8), nullable=False),
    sa.Column('order_id', sa.String(length=64), nullable=False),
    sa.Column('amount_fen', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('detail', sa.Text(), nullable=True),
    sa.Column('created_us', sa.BigInteger(), nullable=False),
    sa.Column('settled_us', sa.BigInteger(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_pay_sandbox_txn'))
    )
    op.create_index('ix_pay_sandbox_txn_settled', 'pay_sandbox_txn', ['settled_us'], unique=False)
    op.create_index('uq_pay_sandbox_txn_order', 'pay_sandbox_txn', ['kind', 'order_id'], unique=True)


def downgrade() -> None:
    for table in TABLES:
        op.drop_table(table)
