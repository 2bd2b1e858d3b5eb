"""Master patient index: resident identity numbers, matching and golden records."""
