"""Tamper-evident audit trail: SM3-chained, append-only ``audit_event`` rows rendered as BALP."""
