"""What became of a read: the statuses and result of `plate_events_ingest`, and the error a
rule raises."""

import uuid
from dataclasses import dataclass

CREATED = "created"
DUPLICATE = "duplicate"
REJECTED = "rejected"


@dataclass(slots=True)
class IngestResult:
    """What became of one read: created (a new row), duplicate (the first row's id) or
    rejected (`errors` names each bad field; nothing was stored)."""

    status: str
    id: uuid.UUID | None = None
    errors: dict[str, list[str]] | None = None
    #: "too_large" when an image was refused for its size (the API answers 413), else "invalid".
    code: str = ""

    @property
    def created(self) -> bool:
        return self.status == CREATED


class ReadRejected(Exception):
    """A read that breaks our rules; `errors` is {field: [message]}."""

    def __init__(self, errors: dict[str, list[str]], code: str = "invalid"):
        super().__init__(errors)
        self.errors = errors
        self.code = code
