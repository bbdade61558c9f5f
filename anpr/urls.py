from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from . import health, metrics, views
from .security import LimitedAdminAuthenticationForm

# Device ingest is resolved first: it is most of the traffic, and Django tries patterns in
# order (no pattern here overlaps another, so the order changes nothing else).
api_patterns = [
    path("", include("events.api.urls")),
    path("", include("cameras.api.urls")),
    path("", include("exporters.api.urls")),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    path("redoc/", SpectacularRedocView.as_view(url_name="schema"), name="redoc"),
]

urlpatterns = [
    path("api/", include(api_patterns)),
    path("", views.live_map, name="home"),
    path("login/", views.SignInView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(next_page="/login/"), name="logout"),
    path("health", health.liveness, name="health"),
    path("liveness", health.liveness, name="liveness"),
    path("ready", health.readiness, name="ready"),
    path("metrics", metrics.metrics_view, name="metrics"),
    path("admin/", admin.site.urls),
]

handler400 = "anpr.errors.bad_request"
handler403 = "anpr.errors.permission_denied"
handler404 = "anpr.errors.not_found"
handler500 = "anpr.errors.server_error"

admin.site.login_form = LimitedAdminAuthenticationForm
admin.site.site_header = "ANPR console"
admin.site.site_title = "ANPR console"
admin.site.index_title = "Configuration"
