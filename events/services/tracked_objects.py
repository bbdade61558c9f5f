"""A tracked object's event (Frigate): one event per object, created by its first read with a
plate, refined in place while the object is open, final once it has ended.

The dialect (events/dialects/frigate.py) translates Frigate's messages into ReadIns; this is
where such a read is written, for the HTTP relay and `manage.py frigate_listen` alike.
"""

from django.db import transaction

from cameras.models import EdgeDevice
from events.models import PlateEvent
from events.reads import ReadIn

from .ingest import plate_events_ingest
from .results import DUPLICATE, REJECTED, UPDATED, IngestResult, ReadRejected
from .update import plate_event_update

#: metadata key set by the object's end: its event is final, later reads change nothing.
ENDED = "frigate_ended"


def tracked_object_ingest(*, device: EdgeDevice, read: ReadIn, ended: bool) -> IngestResult:
    """Create the event of the read's tracked object (`read.event_id`), update it in place, or
    leave it alone (created / updated / duplicate / rejected). The first read creates the event
    and, as every created event, plans its export deliveries: once per object."""
    if ended:
        read.metadata[ENDED] = True
    [result] = plate_events_ingest(device=device, reads=[read])
    if result.status != DUPLICATE:
        return result
    with transaction.atomic():
        # one writer per object at a time (relays may race); the lock covers this row only
        event = (
            PlateEvent.objects.select_for_update(of=("self",))
            .select_related("camera", "device")
            .get(pk=result.id)
        )
        if event.metadata.get(ENDED) or not _changes(event, read, ended=ended):
            return result
        _merge(event, read)
        try:
            plate_event_update(event=event, read=read)
        except ReadRejected as rejected:  # what the merge kept no longer passes: say so
            return IngestResult(REJECTED, errors=rejected.errors, code=rejected.code)
    return IngestResult(UPDATED, id=event.pk)


def _changes(event: PlateEvent, read: ReadIn, *, ended: bool) -> bool:
    return (
        ended
        or read.plate.strip() != event.plate_raw
        or read.confidence != event.confidence
        or (read.plate_box is not None and read.plate_box != event.plate_box)
    )


def _merge(event: PlateEvent, read: ReadIn) -> None:
    """What the read does not say stays as the event had it (Frigate's `lpr` update names no
    vehicle type or zones); earlier, different plates are kept as candidates."""
    read.vehicle_type = read.vehicle_type or event.vehicle_type_raw
    read.plate_box = read.plate_box if read.plate_box is not None else event.plate_box
    read.metadata = {**event.metadata, **read.metadata}
    plate = read.plate.strip()
    candidates = [
        c for c in event.candidates or [] if isinstance(c, dict) and c.get("plate") != plate
    ]
    if event.plate_raw != plate and all(c.get("plate") != event.plate_raw for c in candidates):
        candidates.append({"plate": event.plate_raw, "confidence": event.confidence})
    read.candidates = candidates
