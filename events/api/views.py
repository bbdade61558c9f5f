"""Reading events: the list with its filters and cursor, one event, its images, statistics."""

from datetime import timedelta

from django.utils import timezone
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import renderers, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from core.throttling import CsvExportThrottle

from .. import selectors
from ..filters import PlateEventFilter
from ..models import EventStatistics
from ..selectors import statistics
from .csv_export import PlateEventCsvRenderer, plate_events_csv_response
from .images import image_file_response
from .pagination import EventCursorPagination
from .serializers import (
    EventStatisticsQuerySerializer,
    EventStatisticsSerializer,
    PlateEventSerializer,
)


class PlateEventViewSet(viewsets.ReadOnlyModelViewSet):
    """Plate events, newest first, for viewers and up. Filters combine; pages are cursors
    (follow `next`), so deep pages stay fast and new events never repeat or skip one."""

    queryset = selectors.plate_events_query()
    serializer_class = PlateEventSerializer
    filterset_class = PlateEventFilter
    filter_backends = [DjangoFilterBackend]  # ordering belongs to the cursor (see pagination)
    pagination_class = EventCursorPagination
    lookup_value_regex = "[0-9a-f-]{36}"

    def get_renderers(self):
        """The list also answers as CSV (`?format=csv`); other actions only as JSON."""
        found = super().get_renderers()
        return [*found, PlateEventCsvRenderer()] if self.action == "list" else found

    def get_throttles(self):
        """A CSV export also counts against its user's CSV_EXPORT_THROTTLE_RATE."""
        found = super().get_throttles()
        if isinstance(getattr(self.request, "accepted_renderer", None), PlateEventCsvRenderer):
            found.append(CsvExportThrottle())
        return found

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "format",
                str,
                enum=["json", "csv"],
                description="csv: every event the filters match (not one page; `cursor` and "
                "`page_size` are ignored) as a CSV download in the `ordering` asked for, "
                "streamed; more than CSV_EXPORT_MAX_ROWS events is a 400. Columns are the "
                "event's fields; text a spreadsheet would run as a formula starts with '.",
            )
        ],
        responses={
            (200, "application/json"): PlateEventSerializer(many=True),
            (200, "text/csv"): OpenApiTypes.STR,
            # Throttled only as CSV (get_throttles), so said here; core.schema adds the body.
            429: OpenApiResponse(
                description="csv: more than CSV_EXPORT_THROTTLE_RATE exports by this user; "
                "wait for Retry-After."
            ),
        },
    )
    def list(self, request, *args, **kwargs):
        if request.accepted_renderer.format != PlateEventCsvRenderer.format:
            return super().list(request, *args, **kwargs)
        events = self.filter_queryset(self.get_queryset())
        return plate_events_csv_response(request=request, events=events)

    def finalize_response(self, request, response, *args, **kwargs):
        """An error of a CSV request (a bad filter, too many rows) answers in the API's JSON
        error shape: only the rows are CSV."""
        if isinstance(getattr(request, "accepted_renderer", None), PlateEventCsvRenderer):
            request.accepted_renderer = renderers.JSONRenderer()
            request.accepted_media_type = request.accepted_renderer.media_type
        return super().finalize_response(request, response, *args, **kwargs)

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "kind", str, OpenApiParameter.PATH, description="plate (the crop) or frame"
            )
        ],
        responses={(200, "image/*"): OpenApiTypes.BINARY},
    )
    @action(detail=True, url_path=r"images/(?P<kind>plate|frame)", url_name="image")
    def image(self, request, pk=None, kind=None):
        """The plate crop or the full frame of an event: only for users who may view events
        (images are not under a public /media/ URL)."""
        event = self.get_object()
        return image_file_response(name=getattr(event, f"{kind}_image").name)


class EventStatisticsView(APIView):
    """Counts per hour or day (in the TIME_ZONE setting), per camera and zone, the average
    confidence, distinct plates and the top plates for a window, from the rollup (kept
    current every STATS_ROLLUP_INTERVAL seconds; with a camera or zone filter the plates are
    read from the events); with stack=camera the counts per bucket of the busiest cameras.
    Every bucket of the window is listed, those without reads as 0. The counts are cached
    until the next rollup (at most STATS_CACHE_SECONDS); each camera's last news and
    online/offline state are as of the request."""

    queryset = EventStatistics.objects.none()  # for ModelRolePermission: view_eventstatistics

    @extend_schema(
        parameters=[EventStatisticsQuerySerializer],
        responses={200: EventStatisticsSerializer},
    )
    def get(self, request):
        query = EventStatisticsQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        params = query.validated_data
        until = params.get("until") or timezone.now()
        since = params.get("since") or until - timedelta(hours=24)
        if until - since > timedelta(days=366):
            raise ValidationError({"since": ["The window is at most 366 days."]})
        body = statistics.event_statistics_cached(
            since=since,
            until=until,
            interval=params["interval"],
            camera=params.get("camera"),
            zone=params.get("zone"),
            top=params["top"],
            stack=params.get("stack"),
        )
        cameras = statistics.event_statistics_cameras(
            counts=body["cameras"], camera=params.get("camera"), zone=params.get("zone")
        )
        return Response(EventStatisticsSerializer({**body, "cameras": cameras}).data)
