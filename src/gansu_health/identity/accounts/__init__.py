"""Accounts and sign-in: citizens (phone + SMS code), staff (password + TOTP), 就诊人, sessions."""
