"""Plusportal's services. Each runs as its own process and talks to the others only through Kafka."""
