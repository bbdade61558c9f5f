"""OpenALPR / Rekor Scout agent (`alprd`) posts, as published, mapped to ReadIns.

The agent POSTs one JSON document per message to its `upload_address`; `data_type` says what:
- `alpr_group` (version 1 or 2): one vehicle -> one read. The best plate, its candidates, the
  vehicle (body type, make, make_model, colour), `travel_direction` (degrees -> heading), the
  crops (base64 `best_plate.plate_crop_jpeg` -> plate image, `vehicle_crop_jpeg` -> frame image).
  `best_uuid` is the event id, so a resent group is one event. Preview groups
  (`is_preview: true`) are skipped: the agent sends the complete group afterwards.
- `alpr_alert`: an alert-list hit wrapping a `group`; the group is ingested (with the alert's
  list and description in metadata), and is the same event as its `alpr_group` when both come.
- `alpr_results`: one per video frame, many per vehicle. Mapped one read per plate, but stored
  only for cameras that ask for it (see `FRAME_RESULTS_FLAG`); otherwise accepted and ignored.
- `heartbeat`: the agent is alive; its `video_streams` name the cameras. Stores no event.

OpenALPR confidences are percentages (0..100); they are divided by 100.
"""

from dataclasses import dataclass, field

from events.reads import ReadIn

from . import (
    as_dict,
    as_list,
    base64_image,
    best,
    compact,
    epoch_millis,
    invalid,
    optional_number,
    text,
)

SOURCE = "openalpr"
#: SensorSettings.extra key: `true` on an enabled SensorSettings of a camera stores that
#: camera's per-frame `alpr_results` as events (by default only groups are stored).
FRAME_RESULTS_FLAG = "openalpr_store_frame_results"

GROUP, ALERT, RESULTS, HEARTBEAT = "alpr_group", "alpr_alert", "alpr_results", "heartbeat"


@dataclass
class OpenAlprMessage:
    """What one agent post means: reads to store, and the cameras it names."""

    data_type: str
    reads: list[ReadIn] = field(default_factory=list)
    camera_ids: list[str] = field(default_factory=list)


def message_from_document(document) -> OpenAlprMessage:
    document = as_dict(document, "body")
    data_type = document.get("data_type")
    if data_type == GROUP:
        reads = [] if document.get("is_preview") is True else [_read_from_group(document, "")]
        return OpenAlprMessage(GROUP, reads, [text(document.get("camera_id"), "camera_id")])
    if data_type == ALERT:
        group = as_dict(document.get("group"), "group")
        read = _read_from_group(group, "group.")
        read.metadata.update(
            compact(
                alert_list=document.get("alert_list"),
                alert_list_type=document.get("list_type"),
                alert_description=document.get("description"),
            )
        )
        return OpenAlprMessage(ALERT, [read], [read.camera])
    if data_type == RESULTS:
        reads = _reads_from_frame(document)
        return OpenAlprMessage(RESULTS, reads, [text(document.get("camera_id"), "camera_id")])
    if data_type == HEARTBEAT:
        streams = as_list(document.get("video_streams"), "video_streams")
        camera_ids = [
            text(
                as_dict(s, f"video_streams[{i}]").get("camera_id"), f"video_streams[{i}].camera_id"
            )
            for i, s in enumerate(streams)
        ]
        return OpenAlprMessage(HEARTBEAT, [], [c for c in camera_ids if c])
    raise invalid(
        "data_type", f"Expected one of {GROUP}, {ALERT}, {RESULTS}, {HEARTBEAT}; got {data_type!r}."
    )


def _read_from_group(group: dict, path: str) -> ReadIn:
    best_plate = as_dict(group.get("best_plate") or {}, f"{path}best_plate")
    plate = text(group.get("best_plate_number"), f"{path}best_plate_number") or text(
        best_plate.get("plate"), f"{path}best_plate.plate"
    )
    if not plate:
        raise invalid(f"{path}best_plate_number", "A group needs its best plate.")
    confidence = group.get("best_confidence", best_plate.get("confidence"))
    region = text(group.get("best_region") or best_plate.get("region"), f"{path}best_region")
    candidates = best_plate.get("candidates") or group.get("candidates")
    uuids = as_list(group.get("uuids"), f"{path}uuids")
    vehicle = _vehicle(as_dict(group.get("vehicle") or {}, f"{path}vehicle"), f"{path}vehicle.")
    web_server = as_dict(group.get("web_server_config") or {}, f"{path}web_server_config")
    return ReadIn(
        plate=plate,
        captured_at=epoch_millis(group.get("epoch_start"), f"{path}epoch_start"),
        camera=text(group.get("camera_id"), f"{path}camera_id"),
        event_id=text(group.get("best_uuid") or (uuids[0] if uuids else ""), f"{path}best_uuid"),
        confidence=optional_number(confidence, f"{path}best_confidence", scale=100),
        candidates=_candidates(candidates, f"{path}best_plate.candidates"),
        country=text(group.get("country"), f"{path}country") or _country(region),
        region=region,
        heading=optional_number(group.get("travel_direction"), f"{path}travel_direction"),
        plate_box=_box(best_plate.get("coordinates"), f"{path}best_plate.coordinates"),
        plate_image=base64_image(
            best_plate.get("plate_crop_jpeg"), f"{path}best_plate.plate_crop_jpeg", "plate.jpg"
        ),
        frame_image=base64_image(
            group.get("vehicle_crop_jpeg"), f"{path}vehicle_crop_jpeg", "vehicle.jpg"
        ),
        source=SOURCE,
        metadata=compact(
            **vehicle.pop("metadata"),
            epoch_end=group.get("epoch_end"),
            gps_latitude=group.get("gps_latitude"),
            gps_longitude=group.get("gps_longitude"),
            is_parked=group.get("is_parked"),
            direction_of_travel_id=group.get("direction_of_travel_id"),
            camera_label=web_server.get("camera_label"),
            agent_label=web_server.get("agent_label"),
            agent_uid=group.get("agent_uid"),
            site_id=group.get("site_id"),
        ),
        **vehicle,
    )


def _reads_from_frame(document: dict) -> list[ReadIn]:
    captured_at = epoch_millis(document.get("epoch_time"), "epoch_time")
    camera = text(document.get("camera_id"), "camera_id")
    frame_uuid = text(document.get("uuid"), "uuid")
    reads = []
    for index, result in enumerate(as_list(document.get("results"), "results")):
        path = f"results[{index}]."
        result = as_dict(result, f"results[{index}]")
        reads.append(
            ReadIn(
                plate=text(result.get("plate"), f"{path}plate"),
                captured_at=captured_at,
                camera=camera,
                event_id=f"{frame_uuid}-{result.get('plate_index', index)}" if frame_uuid else "",
                confidence=optional_number(
                    result.get("confidence"), f"{path}confidence", scale=100
                ),
                candidates=_candidates(result.get("candidates"), f"{path}candidates"),
                country=_country(text(result.get("region"), f"{path}region")),
                region=text(result.get("region"), f"{path}region"),
                plate_box=_box(result.get("coordinates"), f"{path}coordinates"),
                plate_image=base64_image(
                    result.get("plate_crop_jpeg"), f"{path}plate_crop_jpeg", "plate.jpg"
                ),
                source=SOURCE,
                metadata={"data_type": RESULTS},
            )
        )
    return reads


def _vehicle(vehicle: dict, path: str) -> dict:
    """ReadIn's vehicle fields from the agent's ranked lists ({name, confidence} each)."""
    body = best(vehicle.get("body_type"), f"{path}body_type", key="confidence") or {}
    color = best(vehicle.get("color"), f"{path}color", key="confidence") or {}
    make = best(vehicle.get("make"), f"{path}make", key="confidence") or {}
    year = best(vehicle.get("year"), f"{path}year", key="confidence") or {}
    orientation = best(vehicle.get("orientation"), f"{path}orientation", key="confidence") or {}
    make_name = text(make.get("name"), f"{path}make.name")
    # make_model names are "<make>_<model>" ("ford_focus"): the model is the best one of the
    # best make, so make and model never disagree (the two lists are ranked separately).
    models = [
        m
        for m in as_list(vehicle.get("make_model"), f"{path}make_model")
        if isinstance(m, dict) and isinstance(m.get("name"), str) and "_" in m["name"]
    ]
    if not make_name and models:
        make_name = best(models, f"{path}make_model", key="confidence")["name"].split("_")[0]
    make_model = best(
        [m for m in models if m["name"].split("_", 1)[0] == make_name],
        f"{path}make_model",
        key="confidence",
    )
    return {
        "vehicle_type": text(body.get("name"), f"{path}body_type.name"),
        "vehicle_type_confidence": _percent(body, f"{path}body_type"),
        "vehicle_color": text(color.get("name"), f"{path}color.name"),
        "vehicle_color_confidence": _percent(color, f"{path}color"),
        "vehicle_make": make_name,
        "vehicle_make_confidence": _percent(make, f"{path}make"),
        "vehicle_model": make_model["name"].split("_", 1)[1] if make_model else "",
        "vehicle_model_confidence": _percent(make_model or {}, f"{path}make_model"),
        "metadata": compact(vehicle_year=year.get("name"), orientation=orientation.get("name")),
    }


def _percent(item: dict, path: str) -> float | None:
    return optional_number(item.get("confidence"), f"{path}.confidence", scale=100)


def _candidates(candidates, path: str) -> list[dict]:
    out = []
    for index, candidate in enumerate(as_list(candidates, path)):
        candidate = as_dict(candidate, f"{path}[{index}]")
        out.append(
            {
                "plate": text(candidate.get("plate"), f"{path}[{index}].plate"),
                "confidence": _percent(candidate, f"{path}[{index}]"),
            }
        )
    return out


def _country(region: str) -> str:
    """OpenALPR regions are "<country>-<state>" ("us-mo"); v1 sent the state alone."""
    country, dash, _ = region.partition("-")
    return country if dash else ""


def _box(coordinates, field: str) -> list | None:
    """The plate's four corners -> their bounding box [x1, y1, x2, y2]."""
    points = as_list(coordinates, field)
    if not points:
        return None
    try:
        xs = [int(p["x"]) for p in points]
        ys = [int(p["y"]) for p in points]
    except (KeyError, TypeError, ValueError):
        raise invalid(field, "Must be a list of {x, y} points.") from None
    return [min(xs), min(ys), max(xs), max(ys)]
