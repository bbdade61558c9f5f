"""The device-ingest protocol: how an edge device's request is read and answered, the same for
the native endpoint (events/api/ingest.py) and every vendor endpoint (vendor_views.py).

- Reading: a body declared over EVENT_UPLOAD_MAX_BYTES, or read over
  DATA_UPLOAD_MAX_MEMORY_SIZE, is a 413; JSON is read by `json_document` (a UTF-8 byte-order
  mark allowed, nesting bounded), a bad document is a 400 naming its field (`body`, or the
  multipart field that held it); an uploaded image over EVENT_IMAGE_MAX_BYTES is a 413.
- Limits: at most EVENT_BATCH_MAX_ITEMS reads per request (`reads_ingest`).
- Answer: `reads_answer`, counts and one result per read. A body that was read answers 201
  if any read was stored (created or updated), else 200, also when every read was rejected:
  agents retry any other answer, and a refused read would be refused on every retry. 4xx is
  for a request unusable as a whole (key, size, an unparseable body, an empty or over-long
  batch, the rate).
- The view: `DeviceIngestView`, whose declared authentication, permission and throttle
  classes run in DRF's order, the device looked up once per request
  (cameras.authentication.device_for_key_in_request); a POST skips DRF's Request wrapper.
"""

import json

from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import RequestDataTooBig, ValidationError
from django.http import HttpRequest
from django.http.multipartparser import MultiPartParserError
from django.utils import timezone
from drf_spectacular.utils import inline_serializer
from rest_framework import exceptions, serializers, status
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from cameras.authentication import DeviceKeyAuthentication, IsEdgeDevice
from cameras.models import EdgeDevice
from cameras.services import refused_read_build, refused_reads_record
from core.ids import ascii_integer
from core.json_bounds import BODY_MAX_DEPTH, json_body_bounded
from core.throttling import DeviceIngestThrottle
from events.reads import ImageIn, ReadIn
from events.services.ingest import plate_events_ingest
from events.services.results import CREATED, STATUSES, UPDATED, IngestResult
from events.services.retention import event_retention_days


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request or one of its images is too large."
    default_code = "too_large"


# --- Reading the request ---------------------------------------------------------------------


def _declared_size_check(request: HttpRequest) -> None:
    length = ascii_integer(request.META.get("CONTENT_LENGTH") or "0")
    if length is not None and length > settings.EVENT_UPLOAD_MAX_BYTES:
        raise PayloadTooLarge(f"The body is larger than {settings.EVENT_UPLOAD_MAX_BYTES} bytes.")


def _read_too_large() -> PayloadTooLarge:
    return PayloadTooLarge(
        f"The request data is larger than {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes."
    )


def request_body(request: HttpRequest) -> bytes:
    """The raw body, held to the size limits."""
    _declared_size_check(request)
    try:
        return request.body
    except RequestDataTooBig:
        raise _read_too_large() from None


def request_form(request: HttpRequest):
    """The form fields and files of a multipart body, held to the size limits; a body that is
    not multipart as declared (no boundary, cut short) is a 400 naming `body`."""
    _declared_size_check(request)
    try:
        return request.POST, request.FILES
    except RequestDataTooBig:
        raise _read_too_large() from None
    except MultiPartParserError as error:
        raise ValidationError({"body": [f"Not a valid multipart body: {error}"]}) from None


def is_multipart(request: HttpRequest) -> bool:
    return request.content_type == "multipart/form-data"


def json_document(raw: bytes | str, *, field: str = "body"):
    """A JSON document from a device: a UTF-8 byte-order mark (which some agents send) is
    allowed; one nested more than BODY_MAX_DEPTH levels is refused like malformed JSON
    (core/json_bounds.py), so nothing after it recurses that deep. Django's ValidationError
    naming `field` when it is not JSON: a 400 from the API."""
    if isinstance(raw, bytes):
        try:
            text = raw.decode("utf-8-sig")  # one byte-order mark, not two
        except UnicodeDecodeError:
            raise ValidationError({field: ["Not UTF-8 text."]}) from None
    else:
        text = raw.removeprefix("\ufeff")
    if not text or text.isspace():
        raise ValidationError({field: ["The JSON document is empty."]})
    try:
        if text.count("[") + text.count("{") <= BODY_MAX_DEPTH:
            # it cannot nest deeper than it has brackets: counting them (in C) spares the
            # walk over the document for all but large ones
            return json.loads(text)
        return json_body_bounded(lambda: json.loads(text))
    except ValueError as error:  # json.JSONDecodeError is one
        reason = str(error).removesuffix(".")
        raise ValidationError({field: [f"Not valid JSON: {reason}."]}) from None


def image_from_upload(upload, *, field: str) -> ImageIn:
    """An uploaded image file, held to EVENT_IMAGE_MAX_BYTES (413); the ingest service checks
    its content."""
    if upload.size > settings.EVENT_IMAGE_MAX_BYTES:
        raise PayloadTooLarge(
            f"{field}: the image is larger than {settings.EVENT_IMAGE_MAX_BYTES} bytes."
        )
    return ImageIn(content=upload.read(), filename=upload.name or f"{field}.jpg")


# --- Storing and answering -------------------------------------------------------------------


def reads_limit_check(count: int) -> None:
    """At most EVENT_BATCH_MAX_ITEMS reads in one request; more is refused whole (400)."""
    if count > settings.EVENT_BATCH_MAX_ITEMS:
        raise exceptions.ValidationError(
            {
                "non_field_errors": [
                    f"At most {settings.EVENT_BATCH_MAX_ITEMS} reads per request (got {count})."
                ]
            }
        )


def reads_ingest(*, device, reads: list[ReadIn]) -> list[IngestResult]:
    """The reads of one request, held to the batch limit and stored in one call."""
    reads_limit_check(len(reads))
    return plate_events_ingest(device=device, reads=reads) if reads else []


def reads_answer(results: list[IngestResult], *, detail: str = "") -> Response:
    """Counts, then one result per read in order (index, status, id, `errors` when rejected,
    `warnings`): 201 if any read was stored, else 200."""
    counts = dict.fromkeys(STATUSES, 0)
    items = []
    for index, result in enumerate(results):
        counts[result.status] += 1
        item = {"index": index, "status": result.status, "id": result.id}
        if result.errors:
            item["errors"] = result.errors
        item["warnings"] = result.warnings
        items.append(item)
    if not detail:
        detail = (
            ", ".join(f"{n} {s}" for s, n in counts.items() if n) or "No plate; nothing stored."
        )
    stored = counts[CREATED] or counts[UPDATED]
    return Response(
        {"detail": detail, **counts, "results": items},
        status=status.HTTP_201_CREATED if stored else status.HTTP_200_OK,
    )


#: The one OpenAPI schema of `reads_answer`, for the native batch and every vendor endpoint.
READS_ANSWER = inline_serializer(
    "IngestBatchResponse",
    {
        "detail": serializers.CharField(help_text="What was done, in words."),
        **{name: serializers.IntegerField() for name in STATUSES},
        "results": inline_serializer(
            "IngestBatchItem",
            {
                "index": serializers.IntegerField(help_text="The read's place in the request."),
                "status": serializers.ChoiceField(
                    choices=list(STATUSES),
                    help_text="updated: a tracked object's event refined in place (Frigate).",
                ),
                "id": serializers.UUIDField(allow_null=True),
                "errors": serializers.DictField(
                    child=serializers.ListField(child=serializers.CharField()),
                    required=False,
                    help_text="Rejected: the message(s) per field.",
                ),
                "warnings": serializers.ListField(
                    child=serializers.CharField(),
                    help_text="Stored, but not quite as sent (e.g. a part left out).",
                ),
            },
            many=True,
        ),
    },
)


# --- The view --------------------------------------------------------------------------------


class AlwaysJSON(BaseContentNegotiation):
    """Devices are answered in JSON whatever they send as `Accept` (agents send odd ones, and
    a 406 would be retried forever); nothing to negotiate per request."""

    def select_parser(self, request, parsers):
        return parsers[0] if parsers else None

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


class DeviceIngestView(APIView):
    """The frame of every device-ingest endpoint: the declared authentication, permission and
    throttle classes admit the device; `answer` reads the body and stores its reads.

    A POST is dispatched without DRF's Request wrapper, content negotiation and parsers,
    which cost a single read about a tenth of its CPU and do nothing here (the body is read
    by this protocol, the answer is always JSON): `dispatch` runs the declared classes itself,
    through their public methods and in DRF's order, on Django's request, and errors take
    DRF's exception handler. Other methods (OPTIONS, a 405) take DRF's whole dispatch."""

    authentication_classes = [DeviceKeyAuthentication]
    permission_classes = [IsEdgeDevice]
    throttle_classes = [DeviceIngestThrottle]
    parser_classes = []  # the body is read by this protocol, as devices send it
    renderer_classes = [JSONRenderer]
    content_negotiation_class = AlwaysJSON
    #: The key in the path authenticates (a wrong one is a 401), nothing is looked up by it:
    #: the schema lists no 404 for it (core.schema).
    path_credentials = ("device_key",)

    def dispatch(self, request, *args, **kwargs):
        if request.method != "POST":
            return super().dispatch(request, *args, **kwargs)
        self.args, self.kwargs, self.request = args, kwargs, request
        self.format_kwarg = None
        self.headers = self.default_response_headers
        try:
            self.device_admit(request)
            response = self.post(request, *args, **kwargs)
        except Exception as exc:  # noqa: BLE001 (answered as DRF answers a view's error)
            response = self.handle_exception(exc)
        return self.finalize_response(request, response, *args, **kwargs)

    def device_admit(self, request: HttpRequest) -> None:
        """DRF's authentication, permission and throttle checks, on Django's request: the
        first authenticator that recognises the request sets `request.user` and
        `request.auth` (the device); a request none recognises is refused 401, one that a
        permission refuses 403, one over a throttle 429."""
        request.user, request.auth = AnonymousUser(), None
        recognised = False
        for authenticator in self.get_authenticators():
            found = authenticator.authenticate(request)
            if found is not None:
                request.user, request.auth = found
                recognised = True
                break
        for permission in self.get_permissions():
            if not permission.has_permission(request, self):
                if not recognised:
                    raise exceptions.NotAuthenticated()
                raise exceptions.PermissionDenied(
                    getattr(permission, "message", None), getattr(permission, "code", None)
                )
        waits = [
            throttle.wait()
            for throttle in self.get_throttles()
            if not throttle.allow_request(request, self)
        ]
        if waits:
            self.throttled(request, max((w for w in waits if w is not None), default=None))

    #: What RefusedRead.source says of a request refused whole (each vendor view: its vendor).
    source = "native"

    def raise_uncaught_exception(self, exc):
        # DRF's, under DEBUG, first asks its Request how to print the traceback; Django's
        # request has no such thing, and Django's handler answers the error (a 500) anyway.
        raise exc

    def post(self, request, device_key: str = ""):
        return self.answer(request, request.auth)

    def handle_exception(self, exc):
        """A body refused whole (400: not JSON, not the vendor's document, an empty or
        over-long batch) is kept among the device's refused reads too, for its admin page."""
        response = super().handle_exception(exc)
        device = self.request.auth if response.status_code == 400 else None
        if isinstance(device, EdgeDevice):
            errors = response.data.get("errors") or {"non_field_errors": [response.data["detail"]]}
            refused = refused_read_build(
                refused_at=timezone.now(),
                errors=errors,
                retention_days=event_retention_days(None),
                source=self.source,
            )
            refused_reads_record(device=device, refused=[refused])
        return response

    def answer(self, request: HttpRequest, device):
        """The answer to the device's POST, read from Django's `request`."""
        raise NotImplementedError
