"""A stored read refined in place: what a device re-reads about an event it already reported."""

import copy
import uuid
from datetime import UTC

from django.db import transaction
from django.utils import timezone

from cameras.services import device_touch
from events.after_store import after_store_pending, after_store_run
from events.broadcast import broadcast_event_update
from events.models import PlateEvent, event_image_name
from events.reads import ReadIn

from .storage import INDEX, image_write, images_delete
from .validation import DeviceCameras, read_validate


def plate_event_update(*, event: PlateEvent, read: ReadIn) -> PlateEvent:
    """Replace what a device re-read about an event it already reported (Frigate refines a
    tracked object while it is in view): plate, scores, vehicle, images and metadata change;
    the id, device, camera, idempotency key and capture time stay. Images given replace the
    old ones, whose files are removed after commit. After-store steps that want updates run
    with the updated event inside the transaction (events/after_store.py)."""
    device = event.device
    now = timezone.now()
    cameras = _cameras_asked(device, event.camera)
    event.camera = cameras.cameras[0]
    item = read_validate(read, device=device, cameras=cameras, now=now, camera=event.camera)
    row = item.row
    changes = {
        name: row[INDEX[name]]
        for name in (
            "zone",
            "plate_raw",
            "plate",
            "plate_key",
            "candidates",
            "confidence",
            "country",
            "region",
            "vehicle_type",
            "vehicle_type_raw",
            "vehicle_type_confidence",
            "vehicle_color",
            "vehicle_color_confidence",
            "vehicle_make",
            "vehicle_make_confidence",
            "vehicle_model",
            "vehicle_model_confidence",
            "direction",
            "heading",
            "speed_kmh",
            "plate_box",
            "metadata",
        )
    }
    zone_id = changes.pop("zone")
    changes["zone_id"] = zone_id if read.zone else event.zone_id
    changes["updated_at"] = now
    replaced: list[str] = []
    written: list[str] = []
    try:
        with transaction.atomic():
            for name, content in item.images:
                new_name = event_image_name(
                    camera_slug=event.camera.slug,
                    captured_at=event.captured_at.astimezone(UTC),
                    event_id=f"{event.id}-{uuid.uuid4().hex[:8]}",
                    kind=name.removesuffix("_image"),
                    extension=row[INDEX[name]].rsplit(".", 1)[-1],
                )
                image_write(new_name, content, written)
                old = getattr(event, name).name
                if old:
                    replaced.append(old)
                changes[name] = new_name
            PlateEvent.objects.filter(pk=event.pk).update(**changes)
            steps = after_store_pending(cameras=[event.camera], created=False)
            if steps:
                updated = _updated_copy(event, changes)
                after_store_run(events=[updated], created=False, steps=steps)
            transaction.on_commit(lambda: images_delete(replaced))
            # Re-read after commit: the committed row, not this function's half-updated copy.
            transaction.on_commit(
                lambda: broadcast_event_update(
                    PlateEvent.objects.select_related("camera", "zone").get(pk=event.pk)
                ),
                robust=True,
            )
    except BaseException:
        images_delete(written)
        raise
    for name, value in changes.items():
        setattr(event, name, value)
    if device:
        device_touch(device=device, cameras=[event.camera])
    return event


def _cameras_asked(device, camera) -> DeviceCameras:
    """The event's camera as the ingest loads it, with the after-store steps' answers (from
    the device cache, or one query), so a step with nothing to do for it is skipped; as
    stored if the device no longer has it."""
    if device is not None:
        named = DeviceCameras.for_reads(
            device, [ReadIn(plate="", captured_at=None, camera=camera.slug)]
        )
        found = named.by_slug.get(camera.slug)
        if found is not None and found.pk == camera.pk:
            return DeviceCameras([found])
    return DeviceCameras([camera])


def _updated_copy(event: PlateEvent, changes: dict) -> PlateEvent:
    """The event as the update leaves it, for the after-store steps (the caller's instance
    changes only once the transaction has committed)."""
    updated = copy.copy(event)  # a model's copy has its own state and loaded relations
    for name, value in changes.items():
        setattr(updated, name, value)
    return updated
