"""Writes of the watchlists app: matching reads at ingest (matching.py, against the lists
watching.py loads), entries and their CSV import and export (entries.py, importing.py),
acknowledging hits (hits.py), e-mailing them (notify.py) and purging them (retention.py)."""
