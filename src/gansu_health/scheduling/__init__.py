"""The province-wide number-source pool (号源池) and time-slot booking (issue 5)."""
