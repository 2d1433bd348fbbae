"""Onboarding: the request form for the partner number, matching against master data, back-office review."""
