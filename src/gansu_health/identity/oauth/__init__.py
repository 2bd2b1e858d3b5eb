"""The OAuth 2 / SMART on FHIR authorisation server: clients, codes, grants and endpoints."""
