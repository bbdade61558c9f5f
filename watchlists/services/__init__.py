"""Writes of the watchlists app: matching reads at ingest (matching.py), entries and their
CSV import and export (entries.py, importing.py), and acknowledging hits (hits.py)."""
