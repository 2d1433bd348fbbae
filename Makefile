# The two commands of README.md: `make up` runs the whole system, `make test` runs every check.
.PHONY: install up test lint specs

install:
	@bash deploy/bootstrap.sh

# KAFKA_NODES=3: Kafka as a cluster of three nodes instead of the single node (README.md, "Kafka as a cluster").
KAFKA_NODES ?= 1

up: install
	@.venv/bin/python -m stack.up --kafka-nodes $(KAFKA_NODES) $(ARGS)   # e.g. make up ARGS=--fresh

lint: install
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/mypy
	.venv/bin/lint-imports

test: lint
	.venv/bin/python -m pytest

specs: install
	.venv/bin/python -m stack.specs --write
	.venv/bin/python -m stack.webconfig --write
