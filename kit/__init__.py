"""Mechanisms every Plusportal service needs, written once: events, outbox, inbox, dead letters,
mail, master-data read model, tenants, logging, database and HTTP plumbing."""
