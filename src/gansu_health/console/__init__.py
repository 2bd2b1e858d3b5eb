"""The staff console at ``/console``: sign-in, duplicate review, registry administration."""
