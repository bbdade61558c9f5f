"""Ingest of the edge vendors' own payloads, unchanged: Plate Recognizer, OpenALPR / Rekor
agents and Frigate relays. Each view reads the body with the device-ingest protocol
(device_ingest.py), lets its dialect module map the document to ReadIns (events/dialects/)
and stores them with the same service as the native API, so a vendor read and a native read
become the same row under the same rules, answered the same way.

Devices authenticate with their key: `Authorization: Token <key>` (what Plate Recognizer
Stream sends), `X-API-Key`, or, for agents that cannot set headers, in the URL path
(`/api/ingest/openalpr/<key>/`; our logs mask it, and proxies in front must too).
"""

from django.core.exceptions import ValidationError
from django.db.models import Q
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view

from cameras.models import SensorSettings
from cameras.services import device_touch
from core.schema import ApiAutoSchema
from events.dialects import frigate, openalpr, platerecognizer
from events.services.tracked_objects import tracked_object_ingest

from .device_ingest import (
    READS_ANSWER,
    DeviceIngestView,
    image_from_upload,
    is_multipart,
    json_document,
    reads_answer,
    reads_ingest,
    request_body,
    request_form,
)

_RESPONSES = {
    200: OpenApiResponse(
        READS_ANSWER, description="Nothing stored: duplicates, rejected reads, or nothing to store."
    ),
    201: OpenApiResponse(READS_ANSWER, description="At least one event created or updated."),
    400: OpenApiResponse(description="Not the vendor's document, or more reads than a batch."),
    401: OpenApiResponse(description="Missing, invalid or revoked device key."),
    413: OpenApiResponse(description="The body or an uploaded image is too large."),
}


class VendorIngestSchema(ApiAutoSchema):
    """Distinct operation ids for the two routes of a view (key in header / in path)."""

    def get_operation_id(self):
        suffix = "_key_in_path" if "{device_key}" in self.path else ""
        return f"ingest_{self.view.vendor}{suffix}"


class VendorIngestView(DeviceIngestView):
    vendor = ""  # set by each subclass; names its operations in the schema
    schema = VendorIngestSchema()

    @property
    def source(self) -> str:
        return self.vendor


@extend_schema_view(
    post=extend_schema(
        tags=["ingest"],
        summary="Plate Recognizer webhooks and Snapshot responses, as the vendor sends them",
        description=(
            "Accepts a Stream webhook (`event: recognition`) as JSON or as multipart with the "
            "document in the `json` field and the frame in `upload`; a Snapshot webhook "
            "(`image.done`); or a Snapshot API response (either result version, or a list). "
            "One event per plate result; vehicles without a plate are skipped. The vendor's "
            "`camera_id` is matched against the device's cameras' external_id, then slug; "
            "none means the device's only camera (an unknown one is adopted by a device with "
            "`adopts_cameras`). A crop or upload that is not a picture is left out with a "
            "warning. Times without an offset are UTC. Stream "
            "sends `Authorization: Token <device key>`."
        ),
        request={
            "application/json": OpenApiTypes.OBJECT,
            "multipart/form-data": OpenApiTypes.OBJECT,
        },
        responses=_RESPONSES,
    )
)
class PlateRecognizerIngestView(VendorIngestView):
    vendor = "platerecognizer"

    def answer(self, request, device):
        upload = None
        if is_multipart(request):
            form, files = request_form(request)
            if "json" not in form:
                raise ValidationError(
                    {"json": ["Required: the multipart field holding the webhook document."]}
                )
            document = json_document(form["json"], field="json")
            if "upload" in files:
                upload = image_from_upload(files["upload"], field="upload")
        else:
            document = json_document(request_body(request))
        reads = platerecognizer.reads_from_document(document, upload=upload)
        return reads_answer(reads_ingest(device=device, reads=reads))


@extend_schema_view(
    post=extend_schema(
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
)
class OpenAlprIngestView(VendorIngestView):
    vendor = "openalpr"

    def answer(self, request, device):
        message = openalpr.message_from_document(json_document(request_body(request)))
        if message.data_type == openalpr.HEARTBEAT:
            device_touch(device=device, cameras=list(_cameras_named(device, message.camera_ids)))
            return reads_answer([], detail="Heartbeat recorded.")
        if message.data_type == openalpr.RESULTS and not _stores_frame_results(
            device, message.camera_ids
        ):
            return reads_answer(
                [], detail="Per-frame alpr_results are not stored for this camera; ignored."
            )
        if not message.reads:
            return reads_answer([], detail="Nothing to store (a preview group, or no plate).")
        return reads_answer(reads_ingest(device=device, reads=message.reads))


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


@extend_schema_view(
    post=extend_schema(
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
)
class FrigateIngestView(VendorIngestView):
    vendor = "frigate"

    def answer(self, request, device):
        frigate_read = frigate.read_from_message(json_document(request_body(request)))
        if frigate_read is None:
            return reads_answer([])
        return reads_answer(
            [tracked_object_ingest(device=device, read=frigate_read.read, ended=frigate_read.ended)]
        )
