"""Meter data: ingests SMGW readings (JSON and MSCONS) and serves them per partner number."""
