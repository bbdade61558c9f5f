from django.urls import path
from rest_framework.routers import SimpleRouter

from .ingest import EventIngestView

router = SimpleRouter()

urlpatterns = [
    path("events/ingest/", EventIngestView.as_view(), name="event-ingest"),
    # For devices that cannot set headers; anpr.logging masks the key in every log line.
    path("events/ingest/<str:device_key>/", EventIngestView.as_view(), name="event-ingest-key"),
    *router.urls,
]
