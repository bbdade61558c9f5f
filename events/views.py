"""The operators' pages of the events app: the live map (the home page) and the dashboard."""

from django.conf import settings
from django.contrib.auth.decorators import login_required, permission_required
from django.shortcuts import render

from cameras.selectors import camera_liveness


@login_required
@permission_required("events.view_plateevent", raise_exception=True)
def live_map(request):
    """Where a browser lands: cameras, zones and plate reads as they arrive."""
    liveness = camera_liveness()
    config = {
        "tileUrl": settings.MAP_TILE_URL,
        "tileAttribution": settings.MAP_TILE_ATTRIBUTION,
        "offlineAfter": liveness.per_camera,
        "defaultOfflineAfter": liveness.default,
        "api": {"cameras": "/api/cameras/", "zones": "/api/zones/", "events": "/api/events/"},
        "stream": "/ws/events/",
    }
    return render(request, "live_map.html", {"live_config": config})


@login_required
@permission_required("events.view_plateevent", raise_exception=True)
def dashboard(request):
    """Reads over a window stacked by camera, the top and distinct plates, and each camera's
    last news and state: drawn in the browser from GET /api/events/stats/."""
    config = {"api": {"stats": "/api/events/stats/"}}
    return render(request, "events/dashboard.html", {"dashboard_config": config})
