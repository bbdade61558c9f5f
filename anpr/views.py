"""Pages of the project itself (not of one app): the live map, which is the home page, and
the sign-in page it sends browsers to."""

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required, permission_required
from django.contrib.auth.forms import AuthenticationForm
from django.db.models import Min
from django.shortcuts import render

from cameras.models import SensorSettings

from .security import LimitedAdminAuthenticationForm

#: Heartbeat interval of a camera without sensor settings (SensorSettings' default).
DEFAULT_HEARTBEAT_SECONDS = 60


class SignInForm(LimitedAdminAuthenticationForm):
    """The admin's sign-in limit without its staff-only rule: viewers watch the live map."""

    def confirm_login_allowed(self, user):
        AuthenticationForm.confirm_login_allowed(self, user)


class SignInView(auth_views.LoginView):
    template_name = "registration/login.html"
    authentication_form = SignInForm
    redirect_authenticated_user = True


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
    }
    return render(request, "live_map.html", {"live_config": config})
