"""GET /api/events/?format=csv: the filtered list as a CSV download, streamed.

DRF reads `?format=` as its format override, so CSV is a renderer the list offers beside JSON;
the view streams the body itself (events.csv_export), and the renderer only makes DRF's
content negotiation accept the format. An export holds at most CSV_EXPORT_MAX_ROWS events:
more is refused with a 400 naming the limit, before any row is sent, rather than cut
silently (a cut file looks complete in a spreadsheet).
"""

import re
import zlib

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db.models import QuerySet
from django.http import StreamingHttpResponse
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from rest_framework import renderers
from rest_framework.exceptions import ValidationError

from ..csv_export import plate_events_csv_chunks
from ..image_links import image_link_site
from ..models import PlateEvent
from .pagination import event_ordering, events_ordered

#: An Accept-Encoding that takes gzip (as Django's GZipMiddleware reads it).
ACCEPTS_GZIP = re.compile(r"\bgzip\b")


class PlateEventCsvRenderer(renderers.BaseRenderer):
    """Lets `?format=csv` (or `Accept: text/csv`) through content negotiation; the body is
    streamed by `plate_events_csv_response`, and errors answer in JSON (the view)."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        raise NotImplementedError("The events list streams its CSV itself.")


def plate_events_csv_response(*, request, events: QuerySet[PlateEvent]) -> StreamingHttpResponse:
    """The CSV download of `events` (filtered, not yet ordered), in the `ordering` asked for,
    or a 400 naming the limit when more than CSV_EXPORT_MAX_ROWS match."""
    ordering = event_ordering(request.query_params)
    limit = settings.CSV_EXPORT_MAX_ROWS
    # Counted only up to one past the limit: the cost stays bounded however much matches.
    if events.order_by()[: limit + 1].count() > limit:
        raise ValidationError(
            {
                "format": [
                    f"More than {limit} events match; a CSV export holds at most {limit} "
                    "(CSV_EXPORT_MAX_ROWS). Narrow the search, e.g. with since and until."
                ]
            }
        )
    events = events_ordered(events, descending=ordering.startswith("-"))

    def image_link(*, event, kind):
        url = image_link_site(event=event, kind=kind)
        return request.build_absolute_uri(url) if url else None

    chunks = plate_events_csv_chunks(events=events, image_link=image_link)
    gzip = False
    if getattr(request, "scope", None) is None:  # WSGI: GZipMiddleware compresses it
        content = chunks
    else:
        # Under ASGI Django would first read a plain iterator to the end (to serve it
        # asynchronously); an async one is sent chunk by chunk as it is read. Django 5.2's
        # GZipMiddleware would gzip each chunk of it as a gzip member of its own, and
        # browsers stop reading after the first (the header line): it is gzipped here as
        # one stream, and the middleware leaves a response with a Content-Encoding alone.
        gzip = ACCEPTS_GZIP.search(request.META.get("HTTP_ACCEPT_ENCODING", "")) is not None
        content = _chunks_async(chunks, gzip=gzip)
    stamp = timezone.now().strftime("%Y%m%dT%H%M%SZ")
    response = StreamingHttpResponse(content, content_type="text/csv; charset=utf-8")
    if gzip:
        response["Content-Encoding"] = "gzip"
    patch_vary_headers(response, ("Accept-Encoding",))
    response["Content-Disposition"] = f'attachment; filename="plate-events-{stamp}.csv"'
    response["Cache-Control"] = "no-store"  # plates are personal data: no copies in caches
    return response


async def _chunks_async(chunks, *, gzip: bool):
    """Each chunk read in the request's own thread (thread-sensitive), so the database
    connection and its cursor are the ones the view used; gzipped as one stream when the
    client takes it (see `plate_events_csv_response`)."""
    step = sync_to_async(next, thread_sensitive=True)
    compressor = zlib.compressobj(6, zlib.DEFLATED, 31) if gzip else None  # 31: gzip framing
    try:
        while (chunk := await step(chunks, None)) is not None:
            data = chunk.encode()
            if compressor is not None:  # flushed per chunk, so each chunk leaves at once
                data = compressor.compress(data) + compressor.flush(zlib.Z_SYNC_FLUSH)
            yield data
        if compressor is not None:
            yield compressor.flush()
    finally:  # also when the client went away: the cursor is closed where it was opened
        await sync_to_async(chunks.close, thread_sensitive=True)()
