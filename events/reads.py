"""The plain value every ingest path produces, and the plate normalizations.

The native JSON body and each vendor dialect (events/dialects/) map to `ReadIn`; the ingest
service (events/services/) validates and stores ReadIns and never sees a vendor's format.
"""

import re
from dataclasses import dataclass, field
from datetime import datetime

#: Characters cameras mix up, folded to one representative each, so that a search for
#: 8ABC123 finds BABC123 and BA8C123. Keep the groups disjoint.
OCR_CONFUSION_GROUPS = ("0ODQ", "1IL", "2Z", "5S", "8B", "6G")
_FOLD = {char: group[0] for group in OCR_CONFUSION_GROUPS for char in group}
_FOLD_TABLE = str.maketrans(_FOLD)
#: What is not an (ASCII) upper-case letter or digit. In C: every read's plate and candidates
#: pass here, several times when watchlists match them.
_NOT_PLATE = re.compile("[^A-Z0-9]+")


def plate_normalize(raw: str) -> str:
    """Upper-case letters and digits only: ' ab-12 cde ' -> 'AB12CDE'. (An import runs this a
    million times: a plate that is already clean skips the substitution.)"""
    upper = raw.upper()
    if upper.isascii() and upper.isalnum():
        return upper
    return _NOT_PLATE.sub("", upper)


def plate_confusion_key(plate: str) -> str:
    """The normalized plate with OCR-confusable characters folded together."""
    return plate_normalize(plate).translate(_FOLD_TABLE)


@dataclass(frozen=True)
class ImageIn:
    """An image that came with a read, not yet checked (the service checks it by content).
    `error` says why a source could not even extract it (bad base64): the service then stores
    the read without it, as for any picture it cannot read."""

    content: bytes
    filename: str = "image.jpg"
    error: str = ""


@dataclass
class ReadIn:
    """One plate read as any device reports it, before validation against our rules.

    `camera` is the vendor's camera reference (our slug or external_id); empty means "the
    device's only camera". `event_id` is the device's id for the read (idempotency); empty
    means one is derived from camera + captured_at + plate. `confidence` and the vehicle
    confidences are already on our 0..1 scale (each dialect scales its own).
    """

    plate: str
    captured_at: datetime | str | None
    camera: str = ""
    event_id: str = ""
    confidence: float | None = None
    zone: str = ""
    candidates: list = field(default_factory=list)
    country: str = ""
    region: str = ""
    vehicle_type: str = ""
    vehicle_type_confidence: float | None = None
    vehicle_color: str = ""
    vehicle_color_confidence: float | None = None
    vehicle_make: str = ""
    vehicle_make_confidence: float | None = None
    vehicle_model: str = ""
    vehicle_model_confidence: float | None = None
    direction: str = ""
    heading: float | None = None
    speed_kmh: float | None = None
    plate_box: list | None = None
    plate_image: ImageIn | None = None
    frame_image: ImageIn | None = None
    source: str = "native"
    metadata: dict = field(default_factory=dict)


#: Fields a native JSON event may carry (ReadIn's, except `source`, which the endpoint sets).
NATIVE_FIELDS = frozenset(ReadIn.__dataclass_fields__) - {"source"}
_REQUIRED = {"plate": None, "captured_at": None}


def read_from_native(body: dict) -> ReadIn:
    """A native JSON event as a ReadIn; fields we do not know are kept in `metadata`.
    No validation here: the ingest service validates every ReadIn the same way."""
    known = {name: value for name, value in body.items() if name in NATIVE_FIELDS}
    extra = {name: value for name, value in body.items() if name not in NATIVE_FIELDS}
    if extra:
        metadata = known.get("metadata")
        known["metadata"] = {**metadata, **extra} if isinstance(metadata, dict) else metadata
        if metadata is None:
            known["metadata"] = extra
    for name, empty in _REQUIRED.items():
        known.setdefault(name, empty)
    return ReadIn(**known)
