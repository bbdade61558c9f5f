"""The native ingest endpoint: the hot path from edge devices.

A lean APIView, not the CRUD machinery: the body is parsed once with the json module, mapped
to ReadIns and handed to the ingest service; no ModelSerializer runs per event.
"""

import json

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
    inline_serializer,
)
from rest_framework import exceptions, serializers, status
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from anpr.api import exception_handler
from anpr.json_bounds import BODY_TOO_DEEP, json_parse
from anpr.throttling import DeviceIngestThrottle, ingest_wait
from cameras.authentication import (
    DeviceKeyAuthentication,
    IsEdgeDevice,
    device_key_from_request,
)
from cameras.selectors import device_for_key
from events.reads import ImageIn, read_from_native
from events.services.ingest import plate_events_ingest
from events.services.results import CREATED, DUPLICATE, REJECTED


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request or one of its images is too large."
    default_code = "too_large"


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

_RESULT = inline_serializer(
    "IngestResult",
    {
        "status": serializers.ChoiceField(choices=[CREATED, DUPLICATE, REJECTED]),
        "id": serializers.UUIDField(allow_null=True),
        "errors": serializers.DictField(
            child=serializers.ListField(child=serializers.CharField()), required=False
        ),
    },
)
_BATCH = inline_serializer(
    "IngestBatchResponse",
    {
        "created": serializers.IntegerField(),
        "duplicate": serializers.IntegerField(),
        "rejected": serializers.IntegerField(),
        "results": inline_serializer(
            "IngestBatchItem",
            {
                "index": serializers.IntegerField(),
                "status": serializers.ChoiceField(choices=[CREATED, DUPLICATE, REJECTED]),
                "id": serializers.UUIDField(allow_null=True),
                "errors": serializers.DictField(
                    child=serializers.ListField(child=serializers.CharField()), required=False
                ),
            },
            many=True,
        ),
    },
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
has one result per item, in order (`created`, `duplicate` with the first id, or `rejected`
with `errors` naming each field), so a device can drop what was refused and resend nothing
else. `201` if anything was created, else `200`.

**Images**: `multipart/form-data` with the event's fields as form fields (or its JSON in an
`event` field) and files `plate_image` and/or `frame_image`: JPEG, PNG or WebP, checked by
content; an image over `EVENT_IMAGE_MAX_BYTES`/`EVENT_IMAGE_MAX_PIXELS` or a body over
`EVENT_UPLOAD_MAX_BYTES` answers `413`, a file that is not such an image `400`; a refused
image stores no event and no file."""


class EventIngestView(APIView):
    """POST a plate read (or a batch of them) from an edge device."""

    authentication_classes = [DeviceKeyAuthentication]
    permission_classes = [IsEdgeDevice]
    throttle_classes = [DeviceIngestThrottle]
    parser_classes = []  # read once: by the json module (dispatch) or as multipart (post)

    @extend_schema(
        operation_id="events_ingest",
        tags=["ingest"],
        summary="Ingest plate reads (one, a batch, or one with images)",
        description=DESCRIPTION,
        request={
            "application/json": OpenApiTypes.OBJECT,
            "multipart/form-data": OpenApiTypes.OBJECT,
        },
        responses={
            201: OpenApiResponse(_RESULT, description="Stored (a batch: something was)."),
            200: OpenApiResponse(_BATCH, description="Already stored (duplicate) / a batch."),
            400: OpenApiResponse(description="Bad JSON or a refused event (fields named)."),
            401: OpenApiResponse(description="Missing, invalid or revoked device key."),
            403: OpenApiResponse(description="Not an edge device."),
            413: OpenApiResponse(description="The body or an image is too large."),
        },
        examples=[OpenApiExample("One event", value=_EVENT_EXAMPLE, request_only=True)],
    )
    def post(self, request, device_key: str = ""):
        # JSON bodies of a device are answered in dispatch (json_ingest_directly); what
        # reaches here is a multipart upload (a refused key never does: DRF answers 401).
        django_request = request._request
        if django_request.content_type != "multipart/form-data":
            raise exceptions.UnsupportedMediaType(django_request.content_type)
        _size_check(django_request)
        try:
            body = _multipart_event(django_request)
        except RequestDataTooBig:
            raise _too_large() from None
        [result] = plate_events_ingest(device=request.auth, reads=[read_from_native(body)])
        return _one_event_answer(result)

    def dispatch(self, request, *args, **kwargs):
        response = json_ingest_directly(request, kwargs.get("device_key", ""))
        if response is not None:
            return response
        return super().dispatch(request, *args, **kwargs)


def json_ingest_directly(request, path_key: str) -> HttpResponse | None:
    """The answer to a device's JSON POST (one event, a batch, or the error for it), or None
    when the request is not that: not a POST, multipart, or no or a bad device key. Nothing
    has been read or counted then, and the DRF view answers it (401, a multipart upload).

    Without DRF's request machinery (content negotiation, authenticator, permission and
    throttle objects, response finalizing), which cost a quarter of the CPU of the hottest
    request; the checks are the same, in the same order: key, throttle, size, body."""
    if request.method != "POST" or request.content_type == "multipart/form-data":
        return None
    device = device_for_key(key=device_key_from_request(request, path_key))
    if device is None:
        return None
    response = _json_ingest(request, device)
    if isinstance(response, Response):  # rendered as DRF's view would render it
        response.accepted_renderer = _RENDERER
        response.accepted_media_type = _RENDERER.media_type
        response.renderer_context = {}
        response.render()
    return response


_RENDERER = JSONRenderer()


def _json_ingest(request, device) -> HttpResponse:
    wait = ingest_wait(device)
    if wait is not None:
        return exception_handler(exceptions.Throttled(wait), {})
    try:
        _size_check(request)
        try:
            body = _json_body(request.body)
        except RequestDataTooBig:
            raise _too_large() from None
        if isinstance(body, list):
            return _batch(device, body)
        if not isinstance(body, dict):
            raise exceptions.ValidationError(
                {"non_field_errors": ["Send one event (a JSON object) or a list of them."]}
            )
    except exceptions.APIException as error:
        return exception_handler(error, {})
    [result] = plate_events_ingest(device=device, reads=[read_from_native(body)])
    return _one_event_answer(result)


def _size_check(request) -> None:
    length = request.META.get("CONTENT_LENGTH") or "0"
    if length.isdigit() and int(length) > settings.EVENT_UPLOAD_MAX_BYTES:
        raise PayloadTooLarge(f"The body is larger than {settings.EVENT_UPLOAD_MAX_BYTES} bytes.")


def _too_large() -> PayloadTooLarge:
    return PayloadTooLarge(
        f"The request data is larger than {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes."
    )


def _one_event_answer(result) -> HttpResponse:
    """The answer to one event: 201/200 with its id (written as the JSON renderer would,
    without a DRF Response: this is the hottest answer), 400 naming the fields, 413 for an
    image too large (in the error shape of anpr.api.exception_handler)."""
    if result.status == REJECTED:
        if result.code == "too_large":
            return Response(
                {"detail": "An image is too large.", "code": "too_large", "errors": result.errors},
                status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
            )
        return exception_handler(exceptions.ValidationError(result.errors), {})
    return HttpResponse(
        f'{{"id":"{result.id}","status":"{result.status}"}}',
        content_type="application/json",
        status=status.HTTP_201_CREATED if result.status == CREATED else status.HTTP_200_OK,
    )


def _json_body(raw: bytes):
    if not raw:
        raise exceptions.ParseError("The body is empty; send a JSON event or a list of them.")
    try:
        # Not json_parse: no walk over the whole body on the hot path; read_validate bounds
        # each JSON field (naming it), and the other fields are checked for their type.
        return json.loads(raw)
    except RecursionError:
        raise exceptions.ParseError(f"Malformed JSON: {BODY_TOO_DEEP}") from None
    except (ValueError, UnicodeDecodeError) as error:
        raise exceptions.ParseError(f"Malformed JSON: {error}") from None


def _batch(device, items: list) -> Response:
    if not items:
        raise exceptions.ValidationError({"non_field_errors": ["The batch is empty."]})
    if len(items) > settings.EVENT_BATCH_MAX_ITEMS:
        raise exceptions.ValidationError(
            {
                "non_field_errors": [
                    f"At most {settings.EVENT_BATCH_MAX_ITEMS} events per batch (got {len(items)})."
                ]
            }
        )
    reads, results = [], [None] * len(items)
    positions = []
    for position, item in enumerate(items):
        if isinstance(item, dict):
            reads.append(read_from_native(item))
            positions.append(position)
        else:
            results[position] = {
                "index": position,
                "status": REJECTED,
                "id": None,
                "errors": {"non_field_errors": ["Each event must be a JSON object."]},
            }
    counts = {CREATED: 0, DUPLICATE: 0, REJECTED: len(items) - len(reads)}
    for position, result in zip(
        positions, plate_events_ingest(device=device, reads=reads), strict=True
    ):
        counts[result.status] += 1
        entry = {"index": position, "status": result.status, "id": result.id}
        if result.errors:
            entry["errors"] = result.errors
        results[position] = entry
    return Response(
        {**counts, "results": results},
        status=status.HTTP_201_CREATED if counts[CREATED] else status.HTTP_200_OK,
    )


def _multipart_event(django_request) -> dict:
    """The event of a multipart request: its JSON in the `event` field, or its fields as form
    fields (numbers and JSON values converted), plus the image files."""
    form = django_request.POST
    files = django_request.FILES
    errors = {}
    if "event" in form:
        try:
            body = json_parse(form["event"])
        except ValueError as error:
            raise exceptions.ValidationError({"event": [f"Malformed JSON: {error}"]}) from None
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
                    value = json_parse(value)
                except ValueError:
                    errors[name] = ["Must be JSON."]
            body[name] = value
    for name in files:
        if name not in _IMAGE_FIELDS:
            errors[name] = ["Unexpected file; send plate_image and/or frame_image."]
            continue
        upload = files[name]
        if upload.size > settings.EVENT_IMAGE_MAX_BYTES:
            raise PayloadTooLarge(
                f"{name}: the image is larger than {settings.EVENT_IMAGE_MAX_BYTES} bytes."
            )
        body[name] = ImageIn(content=upload.read(), filename=upload.name or f"{name}.jpg")
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
