"""Plate Recognizer documents as published, mapped to ReadIns (one per plate result).

Accepted bodies, as the vendor sends them:
- Stream webhook `{"hook": {"event": "recognition", ...}, "data": {...}}`, as JSON or as
  multipart with that document in the `json` field and the frame in `upload`;
- Snapshot webhook `{"hook": {"event": "image.done"}, "data": {...}}`;
- a Snapshot API response (`POST /v1/plate-reader/`), or a list of them, either result
  version: v1 (`plate` is the text) or v2 / `detection_mode=vehicle` (`plate` is an object
  with `props`; a vehicle without a plate is skipped).

Plate Recognizer scores are already 0..1. Its `direction` is the vehicle's heading in degrees,
so it maps to `heading` (in/out is not known). Stream sends no event id: the service derives
the idempotency key from camera + time + plate, so a resent webhook is still one event.
"""

from events.reads import ImageIn, ReadIn

from . import as_dict, as_list, best, compact, invalid, optional_number, text

SOURCE = "platerecognizer"


def reads_from_document(document, *, upload: ImageIn | None = None) -> list[ReadIn]:
    """Every plate read in a Plate Recognizer body; `upload` is Stream's frame image."""
    if isinstance(document, list):
        reads = []
        for index, item in enumerate(document):
            reads += _reads_from_data(as_dict(item, f"[{index}]"), f"[{index}].", upload)
        return reads
    document = as_dict(document, "body")
    if "hook" in document or "data" in document:
        hook = as_dict(document.get("hook") or {}, "hook")
        reads = _reads_from_data(as_dict(document.get("data"), "data"), "data.", upload)
        for read in reads:
            read.metadata["hook_event"] = text(hook.get("event"), "hook.event")
        return reads
    if "results" in document:
        return _reads_from_data(document, "", upload)
    raise invalid("body", "Not a Plate Recognizer document: expected `hook`/`data` or `results`.")


def _reads_from_data(data: dict, path: str, upload: ImageIn | None) -> list[ReadIn]:
    results = as_list(data.get("results"), f"{path}results")
    if not results:
        return []
    captured_at = data.get("timestamp")  # ISO 8601; the service reads a naive time as UTC
    camera = text(data.get("camera_id"), f"{path}camera_id")
    shared = compact(
        filename=data.get("filename"),
        timestamp_local=data.get("timestamp_local"),
    )
    reads = []
    for index, result in enumerate(results):
        read = _read_from_result(
            as_dict(result, f"{path}results[{index}]"), f"{path}results[{index}]."
        )
        if read is None:
            continue
        read.captured_at = captured_at
        read.camera = camera
        read.frame_image = upload
        read.metadata = {**shared, **read.metadata}
        reads.append(read)
    return reads


def _read_from_result(result: dict, path: str) -> ReadIn | None:
    """One result of either version; None for a vehicle seen without a plate."""
    plate = result.get("plate")
    vehicle = as_dict(result.get("vehicle") or {}, f"{path}vehicle")
    if isinstance(plate, dict):  # version 2: {"type", "score", "box", "props": {...}}
        props = as_dict(plate.get("props") or {}, f"{path}plate.props")
        readings = as_list(props.get("plate"), f"{path}plate.props.plate")
        top = best(readings, f"{path}plate.props.plate")
        if top is None:
            return None
        plate_text = text(top.get("value"), f"{path}plate.props.plate[0].value")
        confidence = optional_number(top.get("score"), f"{path}plate.props.plate[0].score")
        candidates = [
            _candidate(r, "value", f"{path}plate.props.plate[{i}]") for i, r in enumerate(readings)
        ]
        region = best(props.get("region"), f"{path}plate.props.region") or {}
        region_code = text(region.get("value"), f"{path}plate.props.region.value")
        box = plate.get("box")
        detection_score = plate.get("score")
        vehicle_props = as_dict(vehicle.get("props") or {}, f"{path}vehicle.props")
        make_model = best(vehicle_props.get("make_model"), f"{path}vehicle.props.make_model")
        color = best(vehicle_props.get("color"), f"{path}vehicle.props.color") or {}
        color_name = color.get("value")
        orientation = best(vehicle_props.get("orientation"), f"{path}vehicle.props.orientation")
    elif plate is None:
        return None
    else:  # version 1: the plate text with its siblings
        plate_text = text(plate, f"{path}plate")
        confidence = optional_number(result.get("score"), f"{path}score")
        candidates = [
            _candidate(c, "plate", f"{path}candidates[{i}]")
            for i, c in enumerate(as_list(result.get("candidates"), f"{path}candidates"))
        ]
        region = as_dict(result.get("region") or {}, f"{path}region")
        region_code = text(region.get("code"), f"{path}region.code")
        box = result.get("box")
        detection_score = result.get("dscore")
        make_model = best(result.get("model_make"), f"{path}model_make")
        color = best(result.get("color"), f"{path}color") or {}
        color_name = color.get("color")
        orientation = best(result.get("orientation"), f"{path}orientation")
    if not plate_text:
        return None
    make_model = make_model or {}
    make_model_score = optional_number(make_model.get("score"), f"{path}model_make.score")
    country, _, subdivision = region_code.partition("-")
    return ReadIn(
        plate=plate_text,
        captured_at=None,
        confidence=confidence,
        candidates=candidates,
        country=country,
        region=region_code if subdivision else "",
        vehicle_type=text(vehicle.get("type"), f"{path}vehicle.type"),
        vehicle_type_confidence=optional_number(vehicle.get("score"), f"{path}vehicle.score"),
        vehicle_make=text(make_model.get("make"), f"{path}model_make.make"),
        vehicle_make_confidence=make_model_score,
        vehicle_model=text(make_model.get("model"), f"{path}model_make.model"),
        vehicle_model_confidence=make_model_score,
        vehicle_color=text(color_name, f"{path}color"),
        vehicle_color_confidence=optional_number(color.get("score"), f"{path}color.score"),
        heading=optional_number(result.get("direction"), f"{path}direction"),
        plate_box=_box(box, f"{path}box"),
        source=SOURCE,
        metadata=compact(
            detection_score=detection_score,
            region_score=region.get("score"),
            orientation=(orientation or {}).get("orientation") or (orientation or {}).get("value"),
            vehicle_box=_box(vehicle.get("box"), f"{path}vehicle.box"),
            source_url=result.get("source_url"),
            position_sec=result.get("position_sec"),
        ),
    )


def _candidate(candidate, key: str, path: str) -> dict:
    """An alternative reading as the service stores it: {"plate", "confidence"}."""
    candidate = as_dict(candidate, path)
    return {
        "plate": text(candidate.get(key), f"{path}.{key}"),
        "confidence": optional_number(candidate.get("score"), f"{path}.score"),
    }


def _box(box, field: str) -> list | None:
    """{xmin, ymin, xmax, ymax} -> [x1, y1, x2, y2]."""
    if not box:
        return None
    box = as_dict(box, field)
    try:
        return [int(box[k]) for k in ("xmin", "ymin", "xmax", "ymax")]
    except (KeyError, TypeError, ValueError):
        raise invalid(field, "Must have numeric xmin, ymin, xmax and ymax.") from None
