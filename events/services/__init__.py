"""Writes of the events app, one module per concern.

- `ingest`: `plate_events_ingest`, the one entry point every source of reads calls.
- `validation`: the rules a read must pass (`read_validate`); `device_cameras`: the cameras
  and zones a device may name; `results`: what became of each read.
- `storage`: the SQL that writes a call's rows (PostgreSQL and SQLite) and the image files.
- `update`: a read refined in place (`plate_event_update`).
- `tracked_objects`: a tracked object's event (Frigate), created, refined, then final.
- `rollup`: the hourly and daily statistics; `retention`: the purge (`events_purge`).

What other apps do with stored reads is registered in events/after_store.py, not written here.
"""
