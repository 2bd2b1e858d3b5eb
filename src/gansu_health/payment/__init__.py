"""Payments: ChargeItem → Invoice → PaymentNotice behind a payment gateway (sandbox built in)."""
