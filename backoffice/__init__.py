"""Back-office tools that talk to the platform through Kafka only: master-data import, print house."""
