from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.shortcuts import redirect
from django.templatetags.static import static
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from anpr.api_index import ApiIndexView
from core import health, metrics
from core.security import LimitedAdminAuthenticationForm, SignInView
from events.views import dashboard, live_map, search
from watchlists.views import hits

# Device ingest is resolved first: it is most of the traffic, and Django tries patterns in
# order (no pattern here overlaps another, so the order changes nothing else).
api_patterns = [
    path("", include("events.api.urls")),
    path("", include("cameras.api.urls")),
    path("", include("exporters.api.urls")),
    path("", include("watchlists.api.urls")),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    path("redoc/", SpectacularRedocView.as_view(url_name="schema"), name="redoc"),
    path("", ApiIndexView.as_view(), name="api-index"),
]

urlpatterns = [
    path("api/", include(api_patterns)),
    path("", live_map, name="home"),
    path("dashboard/", dashboard, name="dashboard"),
    path("search/", search, name="search"),
    path("hits/", hits, name="hits"),
    path("login/", SignInView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(next_page="/login/"), name="logout"),
    path("favicon.ico", lambda request: redirect(static("operators/favicon.svg")), name="favicon"),
    path("health", health.liveness, name="health"),
    path("liveness", health.liveness, name="liveness"),
    path("ready", health.readiness, name="ready"),
    path("metrics", metrics.metrics_view, name="metrics"),
    path("admin/", admin.site.urls),
]

handler400 = "core.errors.bad_request"
handler403 = "core.errors.permission_denied"
handler404 = "core.errors.not_found"
handler500 = "core.errors.server_error"

admin.site.login_form = LimitedAdminAuthenticationForm
admin.site.site_header = "ANPR console"
admin.site.site_title = "ANPR console"
admin.site.index_title = "Configuration"
