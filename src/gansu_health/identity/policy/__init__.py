"""Who may do what with which record: scopes, roles, compartments, consent, break-glass."""
