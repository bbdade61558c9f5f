"""What became of a read: the statuses and result of `plate_events_ingest` (and of a tracked
object's update), and the error a rule raises."""

import uuid
from dataclasses import dataclass, field

CREATED = "created"
#: An event refined in place (a Frigate tracked object: events/services/tracked_objects.py).
UPDATED = "updated"
DUPLICATE = "duplicate"
REJECTED = "rejected"
#: Every status, in the order the ingest answers count them.
STATUSES = (CREATED, UPDATED, DUPLICATE, REJECTED)


@dataclass(slots=True)
class IngestResult:
    """What became of one read: created (a new row), updated (refined in place), duplicate
    (the first row's id) or rejected (`errors` names each bad field; nothing was stored).
    `warnings` tell the device what was stored differently from what it sent."""

    status: str
    id: uuid.UUID | None = None
    errors: dict[str, list[str]] | None = None
    #: "too_large" when an image was refused for its size (the API answers 413), else "invalid".
    code: str = ""
    warnings: list[str] = field(default_factory=list)

    @property
    def created(self) -> bool:
        return self.status == CREATED


class ReadRejected(Exception):
    """A read that breaks our rules; `errors` is {field: [message]}. `too_old`: past its
    camera's retention (its refused-read record keeps no plate)."""

    def __init__(self, errors: dict[str, list[str]], code: str = "invalid", *, too_old=False):
        super().__init__(errors)
        self.errors = errors
        self.code = code
        self.too_old = too_old
