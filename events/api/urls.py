from django.urls import path
from rest_framework.routers import SimpleRouter

from . import vendor_views
from .images import EventImageLinkView
from .ingest import EventIngestKeyInPathView, EventIngestView
from .views import EventStatisticsView, PlateEventViewSet

router = SimpleRouter()
router.register("events", PlateEventViewSet, basename="event")

urlpatterns = [
    path("events/ingest/", EventIngestView.as_view(), name="event-ingest"),
    # For devices that cannot set headers; core.logging masks the key in every log line.
    path(
        "events/ingest/<str:device_key>/",
        EventIngestKeyInPathView.as_view(),
        name="event-ingest-key",
    ),
    path("events/stats/", EventStatisticsView.as_view(), name="event-stats"),
    # Signed, expiring links to an image, for receivers without an account (exporters).
    path("event-images/<str:token>/", EventImageLinkView.as_view(), name="event-image-link"),
    *router.urls,
]

# The vendors' own payloads; each also takes the device key in the path, for agents that
# cannot set headers (core.logging masks /api/ingest/<vendor>/<key>/ in every log line).
for _vendor, _view in (
    ("platerecognizer", vendor_views.PlateRecognizerIngestView),
    ("openalpr", vendor_views.OpenAlprIngestView),
    ("frigate", vendor_views.FrigateIngestView),
):
    urlpatterns += [
        path(f"ingest/{_vendor}/", _view.as_view(), name=f"ingest-{_vendor}"),
        path(f"ingest/{_vendor}/<str:device_key>/", _view.as_view(), name=f"ingest-{_vendor}-key"),
    ]
