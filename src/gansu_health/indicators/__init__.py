"""Booking indicators per hospital, city and day, computed from the number-source pool."""
