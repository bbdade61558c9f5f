"""The native ingest endpoint: the hot path from edge devices.

A lean view over the device-ingest protocol (device_ingest.py): the body is parsed once with
the json module, mapped to ReadIns and handed to the ingest service; no serializer runs per
event.
"""

from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiResponse,
    PolymorphicProxySerializer,
    extend_schema,
    extend_schema_view,
    inline_serializer,
)
from rest_framework import exceptions, serializers, status
from rest_framework.response import Response

from core.api import exception_handler
from events.reads import read_from_native
from events.services.ingest import plate_events_ingest
from events.services.results import CREATED, REJECTED, STATUSES, IngestResult

from .device_ingest import (
    READS_ANSWER,
    DeviceIngestView,
    image_from_upload,
    is_multipart,
    json_document,
    reads_answer,
    reads_ingest,
    reads_limit_check,
    request_body,
    request_form,
)

_IMAGE_FIELDS = ("plate_image", "frame_image")
_FORM_NUMBERS = frozenset(
    (
        "confidence",
        "vehicle_type_confidence",
        "vehicle_color_confidence",
        "vehicle_make_confidence",
        "vehicle_model_confidence",
        "heading",
        "speed_kmh",
    )
)
_FORM_JSON = frozenset(("candidates", "plate_box", "metadata"))
_NOT_AN_EVENT = {"non_field_errors": ["Each event must be a JSON object."]}

_ONE_RESULT = inline_serializer(
    "IngestResult",
    {
        "status": serializers.ChoiceField(choices=list(STATUSES)),
        "id": serializers.UUIDField(allow_null=True),
        "warnings": serializers.ListField(
            child=serializers.CharField(), required=False, help_text="Only when there are any."
        ),
    },
)
_ANSWER = PolymorphicProxySerializer(
    component_name="IngestAnswer",
    serializers=[_ONE_RESULT, READS_ANSWER],
    resource_type_field_name=None,
)
_EVENT_EXAMPLE = {
    "event_id": "gate-box-1:000123",
    "camera": "north-gate",
    "plate": "AB12 CDE",
    "captured_at": "2026-11-26T09:30:00.120Z",
    "confidence": 0.93,
    "zone": "Entry lane",
    "vehicle_type": "SUV",
    "vehicle_color": "silver",
    "direction": "in",
}

DESCRIPTION = """Edge devices post plate reads here, authenticated by their device key
(`Authorization: Token <key>`, `X-API-Key: <key>`, or for devices that cannot set headers
`POST /api/events/ingest/<key>/`; our logs mask that path segment, and a proxy in front must
mask it in its access log too).

**One event** (a JSON object): `201` with its id; the same `event_id` again (or, without one,
the same camera + `captured_at` + plate) answers `200` with the first id and stores nothing
new, also when retries arrive concurrently. Needs `plate` and `captured_at` (ISO 8601; without
an offset it is UTC; more than `EVENT_FUTURE_TOLERANCE_SECONDS` ahead is refused); `camera`
(slug or external id) may be left out when the device has exactly one camera. `confidence`
is 0..1 (7 is refused, not rescaled). Unknown fields are kept in `metadata`.

**A batch** (a JSON list of up to `EVENT_BATCH_MAX_ITEMS` events, e.g. after being offline):
stored in one transaction by one statement. **A bad item rejects only itself**: the answer
has counts and one result per item, in order (`created`, `duplicate` with the first id, or
`rejected` with `errors` naming each field; `warnings` for what was stored not quite as sent),
so a device can drop what was refused and resend nothing else. `201` if anything was
created, else `200`, also when every item was rejected (the same answer as the vendor
endpoints'). An empty batch or a longer one is refused whole (`400`).

**Bad JSON** is a `400` naming the field that held it (`body`, or the multipart field); a
UTF-8 byte-order mark before the JSON is allowed.

**Images**: `multipart/form-data` with the event's fields as form fields (or its JSON in an
`event` field) and files `plate_image` and/or `frame_image`: JPEG, PNG or WebP, checked by
content; an image over `EVENT_IMAGE_MAX_BYTES`/`EVENT_IMAGE_MAX_PIXELS` or a body over
`EVENT_UPLOAD_MAX_BYTES` answers `413` (storing no event and no file); a picture that cannot
be read (not such an image, empty, or sent in the JSON) is left out, the event stored without
it and `warnings` saying why.

**Too old**: a read older than its camera's retention period (which the next purge would
delete) is refused naming `captured_at`. **Unknown camera**: refused naming `camera`, unless
the device adopts cameras (`adopts_cameras`): then the camera is created inactive, for an
operator to place, and the read stored."""


@extend_schema_view(
    post=extend_schema(
        operation_id="events_ingest",
        tags=["ingest"],
        summary="Ingest plate reads (one, a batch, or one with images)",
        description=DESCRIPTION,
        request={
            "application/json": OpenApiTypes.OBJECT,
            "multipart/form-data": OpenApiTypes.OBJECT,
        },
        responses={
            201: OpenApiResponse(_ANSWER, description="Stored (a batch: something was)."),
            200: OpenApiResponse(
                _ANSWER, description="Already stored (duplicate) / a batch that stored nothing."
            ),
            400: OpenApiResponse(description="Bad JSON, a refused event (fields named)."),
            401: OpenApiResponse(description="Missing, invalid or revoked device key."),
            403: OpenApiResponse(description="Not an edge device."),
            413: OpenApiResponse(description="The body or an image is too large."),
        },
        examples=[OpenApiExample("One event", value=_EVENT_EXAMPLE, request_only=True)],
    )
)
class EventIngestView(DeviceIngestView):
    """POST a plate read (or a batch of them) from an edge device."""

    def answer(self, request, device):
        return native_answer(request, device)


def native_answer(request: HttpRequest, device) -> HttpResponse:
    """The answer to a device's native POST: one event (JSON or multipart) or a batch. A
    request unusable as a whole raises, and DRF answers it in the API's error shape."""
    if is_multipart(request):
        body = _multipart_event(request)
    else:
        body = json_document(request_body(request))
        if isinstance(body, list):
            return _batch_answer(device, body)
        if not isinstance(body, dict):
            raise exceptions.ValidationError(
                {"non_field_errors": ["Send one event (a JSON object) or a list of them."]}
            )
    [result] = plate_events_ingest(device=device, reads=[read_from_native(body)])
    return _one_event_answer(result)


def _one_event_answer(result: IngestResult) -> HttpResponse:
    """The answer to one event: 201/200 with its id (written as the JSON renderer would,
    without a Response: this is the hottest answer), 400 naming the fields, 413 for an
    image too large (in the error shape of core.api.exception_handler)."""
    if result.status == REJECTED:
        if result.code == "too_large":
            return Response(
                {"detail": "An image is too large.", "code": "too_large", "errors": result.errors},
                status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
            )
        return exception_handler(exceptions.ValidationError(result.errors), {})
    if result.warnings:
        return Response(
            {"id": result.id, "status": result.status, "warnings": result.warnings},
            status=status.HTTP_201_CREATED if result.status == CREATED else status.HTTP_200_OK,
        )
    return HttpResponse(
        f'{{"id":"{result.id}","status":"{result.status}"}}',
        content_type="application/json",
        status=status.HTTP_201_CREATED if result.status == CREATED else status.HTTP_200_OK,
    )


def _batch_answer(device, items: list) -> Response:
    """A batch: one result per item, in order; an item that is not an object rejects only
    itself."""
    if not items:
        raise exceptions.ValidationError({"non_field_errors": ["The batch is empty."]})
    reads_limit_check(len(items))
    results = [IngestResult(REJECTED, errors=_NOT_AN_EVENT, code="invalid")] * len(items)
    positions = [position for position, item in enumerate(items) if isinstance(item, dict)]
    reads = [read_from_native(items[position]) for position in positions]
    for position, result in zip(positions, reads_ingest(device=device, reads=reads), strict=True):
        results[position] = result
    return reads_answer(results)


def _multipart_event(request: HttpRequest) -> dict:
    """The event of a multipart request: its JSON in the `event` field, or its fields as form
    fields (numbers and JSON values converted), plus the image files."""
    form, files = request_form(request)
    errors = {}
    if "event" in form:
        body = json_document(form["event"], field="event")
        if not isinstance(body, dict):
            raise exceptions.ValidationError({"event": ["Must be a JSON object."]})
    else:
        body = {}
        for name, value in form.items():
            if name in _FORM_NUMBERS and value != "":
                try:
                    value = float(value)
                except ValueError:
                    errors[name] = ["Must be a number."]
            elif name in _FORM_JSON and value != "":
                try:
                    value = json_document(value, field=name)
                except ValidationError as error:
                    errors.update(error.message_dict)
            body[name] = value
    for name in files:
        if name not in _IMAGE_FIELDS:
            errors[name] = ["Unexpected file; send plate_image and/or frame_image."]
            continue
        body[name] = image_from_upload(files[name], field=name)
    if errors:
        raise exceptions.ValidationError(errors)
    return body


@extend_schema_view(
    post=extend_schema(
        operation_id="events_ingest_key_in_path",
        summary="Ingest plate reads, the device key in the path (devices without headers)",
    )
)
class EventIngestKeyInPathView(EventIngestView):
    """The same endpoint for devices that cannot set headers: POST /api/events/ingest/<key>/."""
