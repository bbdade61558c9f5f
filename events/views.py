"""The live map, the home page: cameras, zones and each new read as it arrives."""

from django.conf import settings
from django.contrib.auth.decorators import login_required, permission_required
from django.db.models import Min
from django.shortcuts import render

from cameras.models import SensorSettings
from events.reads import OCR_CONFUSION_GROUPS

#: Heartbeat interval of a camera without sensor settings (SensorSettings' default).
DEFAULT_HEARTBEAT_SECONDS = 60


def _offline_after_seconds() -> dict[int, int]:
    """Per camera, how long without news before it shows as offline: a few heartbeats of
    its shortest enabled sensor settings."""
    beats = (
        SensorSettings.objects.filter(enabled=True)
        .values("camera_id")
        .annotate(shortest=Min("heartbeat_interval_s"))
    )
    return {
        row["camera_id"]: row["shortest"] * settings.CAMERA_OFFLINE_AFTER_HEARTBEATS
        for row in beats
    }


@login_required
@permission_required("events.view_plateevent", raise_exception=True)
def live_map(request):
    """Where a browser lands: cameras, zones and plate reads as they arrive."""
    config = {
        "tileUrl": settings.MAP_TILE_URL,
        "tileAttribution": settings.MAP_TILE_ATTRIBUTION,
        "offlineAfter": _offline_after_seconds(),
        "defaultOfflineAfter": DEFAULT_HEARTBEAT_SECONDS * settings.CAMERA_OFFLINE_AFTER_HEARTBEATS,
        "api": {"cameras": "/api/cameras/", "zones": "/api/zones/", "events": "/api/events/"},
        "stream": "/ws/events/",
        # The plate box folds live reads as the API's `q` does (one home: events.reads).
        "plateConfusionGroups": OCR_CONFUSION_GROUPS,
    }
    return render(request, "live_map.html", {"live_config": config})
