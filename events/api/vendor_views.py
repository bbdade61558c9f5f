"""Ingest of the edge vendors' own payloads, unchanged: Plate Recognizer, OpenALPR / Rekor
agents and Frigate relays. Each view parses the body, lets its dialect module map it to
ReadIns (events/dialects/) and stores them with the same service as the native API, so a
vendor read and a native read become the same row under the same rules.

Devices authenticate with their key: `Authorization: Token <key>` (what Plate Recognizer
Stream sends), `X-API-Key`, or, for agents that cannot set headers, in the URL path
(`/api/ingest/openalpr/<key>/`; our logs mask it, and proxies in front must too).
"""

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.db.models import Q
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import exceptions, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from anpr.throttling import DeviceIngestThrottle
from cameras.authentication import DeviceKeyAuthentication, IsEdgeDevice
from cameras.models import SensorSettings
from cameras.services import device_touch
from events.dialects import frigate, json_document, openalpr, platerecognizer
from events.reads import ImageIn
from events.services.ingest import plate_events_ingest
from events.services.results import CREATED, DUPLICATE, REJECTED, IngestResult

from .ingest import PayloadTooLarge

_STATUSES = [CREATED, frigate.UPDATED, DUPLICATE, REJECTED]
_RESPONSE = inline_serializer(
    "VendorIngestResponse",
    {
        "detail": serializers.CharField(),
        **{name: serializers.IntegerField() for name in _STATUSES},
        "results": inline_serializer(
            "VendorIngestItem",
            {
                "index": serializers.IntegerField(help_text="The read's place in the payload."),
                "status": serializers.CharField(
                    help_text="created, updated, duplicate or rejected, as in the native "
                    "batch; updated: a Frigate object's event refined in place.",
                ),
                "id": serializers.UUIDField(allow_null=True),
                "errors": serializers.DictField(
                    child=serializers.ListField(child=serializers.CharField()), required=False
                ),
            },
            many=True,
        ),
    },
)
_RESPONSES = {
    200: OpenApiResponse(_RESPONSE, description="Nothing new stored (duplicates, or ignored)."),
    201: OpenApiResponse(_RESPONSE, description="At least one event created or updated."),
    400: OpenApiResponse(description="Not the vendor's document, or every read was rejected."),
    401: OpenApiResponse(description="Missing, invalid or revoked device key."),
    413: OpenApiResponse(description="The body or an image is too large."),
}


class VendorIngestSchema(AutoSchema):
    """Distinct operation ids for the two routes of a view (key in header / in path)."""

    def get_operation_id(self):
        suffix = "_key_in_path" if "{device_key}" in self.path else ""
        return f"ingest_{self.view.vendor}{suffix}"


class VendorIngestView(APIView):
    """The shared frame of the vendor endpoints: device key, body size, the response."""

    vendor = ""  # set by each subclass; names its operations in the schema
    schema = VendorIngestSchema()
    authentication_classes = [DeviceKeyAuthentication]
    permission_classes = [IsEdgeDevice]
    throttle_classes = [DeviceIngestThrottle]
    parser_classes = []  # bodies are read as the vendors send them (any content type)

    def post(self, request, device_key: str = ""):
        length = request.META.get("CONTENT_LENGTH") or "0"
        if length.isdigit() and int(length) > settings.EVENT_UPLOAD_MAX_BYTES:
            raise PayloadTooLarge(
                f"The body is larger than {settings.EVENT_UPLOAD_MAX_BYTES} bytes."
            )
        try:
            return self.ingest(request, request.auth)
        except RequestDataTooBig:
            raise PayloadTooLarge(
                f"The request data is larger than {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes."
            ) from None

    def ingest(self, request, device) -> Response:
        """Parse the vendor's body, store its reads, answer with results_response."""
        raise NotImplementedError


def _document(request):
    """The JSON document of a request (raw body; a UTF-8 BOM is allowed)."""
    return json_document(request._request.body)


def reads_store(device, reads) -> list[IngestResult]:
    """The reads of one payload, stored like a native batch (and held to its size)."""
    if len(reads) > settings.EVENT_BATCH_MAX_ITEMS:
        raise exceptions.ValidationError(
            {
                "results": [
                    f"At most {settings.EVENT_BATCH_MAX_ITEMS} plate reads per request "
                    f"(got {len(reads)})."
                ]
            }
        )
    return plate_events_ingest(device=device, reads=reads) if reads else []


def results_response(results: list[IngestResult], detail: str = "") -> Response:
    """One result per read in the native batch's shape (counts, then `results` with index,
    status, id, errors). 201 when something was stored; when every read was rejected, the
    API's error shape (400, or 413 for an image too large) naming the fields, results beside."""
    counts = dict.fromkeys(_STATUSES, 0)
    items = []
    for index, result in enumerate(results):
        counts[result.status] += 1
        item = {"index": index, "status": result.status, "id": result.id}
        if result.errors:
            item["errors"] = result.errors
        items.append(item)
    if results and counts[REJECTED] == len(results):
        too_large = any(r.code == "too_large" for r in results)
        body = {
            "detail": "An image is too large." if too_large else "Invalid input.",
            "code": "too_large" if too_large else "invalid",
            "errors": results[0].errors
            if len(results) == 1
            else {
                f"results[{i}].{field}": messages
                for i, r in enumerate(results)
                for field, messages in r.errors.items()
            },
            **counts,
            "results": items,
        }
        return Response(body, status=413 if too_large else 400)
    if not detail:
        detail = (
            ", ".join(f"{n} {s}" for s, n in counts.items() if n) or "No plate; nothing stored."
        )
    stored = counts[CREATED] or counts[frigate.UPDATED]
    return Response(
        {"detail": detail, **counts, "results": items},
        status=status.HTTP_201_CREATED if stored else status.HTTP_200_OK,
    )


class PlateRecognizerIngestView(VendorIngestView):
    vendor = "platerecognizer"

    @extend_schema(
        tags=["ingest"],
        summary="Plate Recognizer webhooks and Snapshot responses, as the vendor sends them",
        description=(
            "Accepts a Stream webhook (`event: recognition`) as JSON or as multipart with the "
            "document in the `json` field and the frame in `upload`; a Snapshot webhook "
            "(`image.done`); or a Snapshot API response (either result version, or a list). "
            "One event per plate result; vehicles without a plate are skipped. The vendor's "
            "`camera_id` is matched against the device's cameras' external_id, then slug; "
            "none means the device's only camera. Times without an offset are UTC. Stream "
            "sends `Authorization: Token <device key>`."
        ),
        request={
            "application/json": OpenApiTypes.OBJECT,
            "multipart/form-data": OpenApiTypes.OBJECT,
        },
        responses=_RESPONSES,
    )
    def post(self, request, device_key: str = ""):
        return super().post(request, device_key)

    def ingest(self, request, device):
        upload = None
        django_request = request._request
        if django_request.content_type == "multipart/form-data":
            raw = django_request.POST.get("json")
            if raw is None:
                raise exceptions.ValidationError(
                    {"json": ["Required: the multipart field holding the webhook document."]}
                )
            document = json_document(raw, "json")
            file = django_request.FILES.get("upload")
            if file is not None:
                if file.size > settings.EVENT_IMAGE_MAX_BYTES:
                    raise PayloadTooLarge(
                        f"upload: the image is larger than {settings.EVENT_IMAGE_MAX_BYTES} bytes."
                    )
                upload = ImageIn(content=file.read(), filename=file.name or "upload.jpg")
        else:
            document = _document(request)
        reads = platerecognizer.reads_from_document(document, upload=upload)
        return results_response(reads_store(device, reads))


class OpenAlprIngestView(VendorIngestView):
    vendor = "openalpr"

    @extend_schema(
        tags=["ingest"],
        summary="OpenALPR / Rekor Scout agent posts, as the agent sends them",
        description=(
            "Point the agent's `upload_address` here. `alpr_group` (version 1 or 2) and "
            "`alpr_alert` become one event per vehicle (event id: `best_uuid`; confidences "
            "0..100 are scaled to 0..1; base64 crops become the plate and frame images). "
            "`alpr_results` (per video frame) are accepted and ignored unless an enabled "
            "sensor settings row of the camera has "
            f'`extra: {{"{openalpr.FRAME_RESULTS_FLAG}": true}}`. `heartbeat` marks the '
            "device and the cameras in its `video_streams` as seen and stores no event. "
            "The agent's numeric `camera_id` is matched against external_id, then slug."
        ),
        request={"application/json": OpenApiTypes.OBJECT},
        responses=_RESPONSES,
    )
    def post(self, request, device_key: str = ""):
        return super().post(request, device_key)

    def ingest(self, request, device):
        message = openalpr.message_from_document(_document(request))
        if message.data_type == openalpr.HEARTBEAT:
            cameras = list(_cameras_named(device, message.camera_ids))
            device_touch(device=device, cameras=cameras)
            return results_response([], detail="Heartbeat recorded.")
        if message.data_type == openalpr.RESULTS and not _stores_frame_results(
            device, message.camera_ids
        ):
            return results_response(
                [], detail="Per-frame alpr_results are not stored for this camera; ignored."
            )
        if not message.reads:
            return results_response([], detail="Nothing to store (a preview group, or no plate).")
        return results_response(reads_store(device, message.reads))


def _cameras_named(device, camera_ids: list[str]):
    """The device's cameras an agent names (external_id, else slug)."""
    return device.cameras.filter(Q(external_id__in=camera_ids) | Q(slug__in=camera_ids))


def _stores_frame_results(device, camera_ids: list[str]) -> bool:
    """Whether a camera named in the message asks for per-frame results to be stored."""
    return SensorSettings.objects.filter(
        camera__in=_cameras_named(device, camera_ids),
        enabled=True,
        **{f"extra__{openalpr.FRAME_RESULTS_FLAG}": True},
    ).exists()


class FrigateIngestView(VendorIngestView):
    vendor = "frigate"

    @extend_schema(
        tags=["ingest"],
        summary="Frigate MQTT messages relayed over HTTP",
        description=(
            "For relays that forward Frigate's MQTT messages (`manage.py frigate_listen` "
            "subscribes to the broker directly): a `frigate/events` message (new, update, "
            "end) or a `frigate/tracked_object_update` of type `lpr`, as the body. One event "
            "per tracked object (the Frigate id is the event id), created when a plate first "
            "appears (export deliveries are planned then, once per object), updated in place "
            "while the object is open, final after `end`. Messages without a plate store "
            "nothing (200)."
        ),
        request={"application/json": OpenApiTypes.OBJECT},
        responses=_RESPONSES,
    )
    def post(self, request, device_key: str = ""):
        return super().post(request, device_key)

    def ingest(self, request, device):
        return results_response(
            frigate.frigate_message_ingest(device=device, message=_document(request))
        )
