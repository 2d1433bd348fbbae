"""Plusportal's event contracts: envelopes, event schemas and topic names. Schemas only, no behaviour."""
