"""Storing plate reads: the ingest hot path every source of reads goes through.

Every entry point (native API, vendor dialects, the MQTT listener, the benchmark) maps its
input to `ReadIn` and calls `plate_events_ingest`, so one set of rules decides what is stored.
The rows of one call are written by one statement in one transaction, and the unique
(device, idempotency_key) constraint makes a retry, even a concurrent one, return the first
row's id instead of a second row.
"""

import time
from contextlib import nullcontext

from django.db import connection, transaction
from django.utils import timezone

from cameras.models import EdgeDevice, RefusedRead
from cameras.services import device_touch, refused_read_build, refused_reads_record
from core.metrics import ingest_observe
from events.after_store import after_store_pending, after_store_run, after_store_screened
from events.broadcast import broadcast_events
from events.models import PlateEvent
from events.reads import ReadIn

from .results import CREATED, DUPLICATE, REJECTED, IngestResult
from .retention import RetentionCutoffs, event_retention_days
from .storage import INDEX, image_write, images_delete, rows_insert
from .validation import Adoptions, DeviceCameras, ReadRejected, ValidRead, read_validate


def plate_events_ingest(*, device: EdgeDevice, reads: list[ReadIn]) -> list[IngestResult]:
    """Validate and store reads of one device; one result per read, in order.

    A bad read is rejected alone (its result names the fields); the others are stored in one
    transaction by one statement. A read whose idempotency key the device already used is a
    duplicate carrying the first row's id. Images are checked before the transaction and
    written inside it, and removed again if it rolls back.
    """
    started = time.perf_counter()
    now = timezone.now()
    cameras = DeviceCameras.for_reads(device, reads)
    cutoffs = RetentionCutoffs(now)
    adoptions = Adoptions()
    results: list[IngestResult | None] = [None] * len(reads)
    valid: list[tuple[int, ValidRead]] = []
    first_of_key: dict[str, int] = {}
    repeats: list[tuple[int, str]] = []
    key_index = INDEX["idempotency_key"]
    refused: list[tuple[int, ReadRejected]] = []
    for position, read in enumerate(reads):
        try:
            item = read_validate(
                read, device=device, cameras=cameras, now=now, cutoffs=cutoffs, adoptions=adoptions
            )
        except ReadRejected as rejected:
            results[position] = IngestResult(REJECTED, errors=rejected.errors, code=rejected.code)
            refused.append((position, rejected))
            continue
        key = item.row[key_index]
        if key in first_of_key:
            repeats.append((position, key))  # the same read twice in one batch
            continue
        first_of_key[key] = position
        valid.append((position, item))

    if valid:
        stored = _events_store(device=device, items=[item for _, item in valid])
        for (position, _), result in zip(valid, stored, strict=True):
            results[position] = result
        for position, key in repeats:
            results[position] = IngestResult(DUPLICATE, id=results[first_of_key[key]].id)
        device_touch(
            device=device, cameras=list({v.camera.pk: v.camera for _, v in valid}.values())
        )
    if refused and device is not None:
        refused_reads_record(
            device=device,
            refused=[
                refused_read(reads[p], rejected, cameras=cameras, now=now)
                for p, rejected in refused
            ],
        )
    ingest_observe(
        reads=reads,
        results=results,
        camera_slug=cameras.slug_of,
        seconds=time.perf_counter() - started,
    )
    return results


def refused_read(
    read: ReadIn, rejected: ReadRejected, *, cameras: DeviceCameras, now
) -> RefusedRead:
    """The record of a refused read: kept as long as its camera's events (when the camera is
    known), without its plate when it was refused for being past that retention."""
    try:
        camera = cameras.resolve(read.camera)
    except ReadRejected:
        camera = None
    return refused_read_build(
        refused_at=now,
        errors=rejected.errors,
        retention_days=event_retention_days(camera),
        source=read.source,
        camera=read.camera,
        plate=None if rejected.too_old else read.plate,
        captured_at=read.captured_at,
    )


def _events_store(*, device: EdgeDevice, items: list["ValidRead"]) -> list[IngestResult]:
    """The one transaction of an ingest: insert, write images, run the after-store steps
    (events/after_store.py) on the created events.

    On PostgreSQL, a single read with no image, for whose camera no after-store step has work
    (as the steps' `work_sql` answered with the cameras, and their `screen` in-process),
    is one INSERT, atomic by itself: it
    runs without BEGIN/COMMIT (two round trips less on the hottest path)."""
    written: list[str] = []
    events = [_event_unsaved(item) for item in items]
    steps = after_store_pending(cameras=[item.camera for item in items])
    if steps:
        steps = after_store_screened(steps=steps, events=events)
    lone_statement = (
        connection.vendor == "postgresql" and len(items) == 1 and not steps and not items[0].images
    )
    try:
        with nullcontext() if lone_statement else transaction.atomic():
            existing = rows_insert(device=device, rows=[item.row for item in items])
            results = []
            created = []
            for item, event in zip(items, events, strict=True):
                row = item.row
                key = row[INDEX["idempotency_key"]]
                if key in existing:
                    # the stored row is the first send's (with its pictures): this send's
                    # warnings do not describe it
                    results.append(IngestResult(DUPLICATE, id=existing[key]))
                    continue
                for name, content in item.images:
                    image_write(row[INDEX[name]], content, written)
                event._state.adding = False
                event._state.db = "default"
                created.append(event)
                results.append(IngestResult(CREATED, id=row[0], warnings=item.warnings))
            # What other apps do with stored reads goes in with the events (exporters: the
            # outbox rows, whose tasks are queued after commit).
            after_store_run(events=created, created=True, steps=steps)
            # Live clients hear of the events once they are committed (robust: a channel
            # layer outage must not fail an ingest that is already stored).
            transaction.on_commit(lambda: broadcast_events(created), robust=True)
    except BaseException:
        images_delete(written)
        raise
    return results


def _event_unsaved(item: ValidRead) -> PlateEvent:
    event = PlateEvent(*item.row)
    # Already loaded: no query for the slug and zone name of the live frame.
    event.camera = item.camera
    if item.zone is not None:
        event.zone = item.zone
    return event
