"""Notifications: outbox events turned into messages, delivered through channels with retries."""
