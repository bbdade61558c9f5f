"""The operators' pages of events: the live map (the home page), the dashboard and the search."""

import django_filters
from django.conf import settings
from django.contrib.auth.decorators import login_required, permission_required
from django.shortcuts import render

from cameras.selectors import camera_liveness
from core.timestamps import TimestampFilter
from events.reads import OCR_CONFUSION_GROUPS

from .filters import PlateEventFilter
from .live_kinds import live_page_configs


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
        # The plate box folds live reads as the API's `q` does (one home: events.reads).
        "plateConfusionGroups": OCR_CONFUSION_GROUPS,
        # Other apps' frames this user is shown (events.live_kinds), e.g. `hit`.
        "kinds": live_page_configs(request.user),
    }
    return render(request, "live_map.html", {"live_config": config})


@login_required
@permission_required("events.view_eventstatistics", raise_exception=True)
def dashboard(request):
    """Reads over a window stacked by camera, the top and distinct plates, and each camera's
    last news and state: drawn in the browser from GET /api/events/stats/."""
    config = {"api": {"stats": "/api/events/stats/"}}
    return render(request, "events/dashboard.html", {"dashboard_config": config})


#: Filters the search form offers as lists of what the API has, not as free text.
SEARCH_FILTER_LISTS = {"camera": "cameras", "zone": "zones"}
#: Captions other than the filter's name.
SEARCH_FILTER_CAPTIONS = {"q": "Plate (OCR-tolerant)", "min_confidence": "Confidence at least"}


def search_filter_fields() -> list[dict]:
    """The events list's filters (PlateEventFilter) as the search form draws them, so a filter
    added to the API appears on the page: name, caption, the API's label as a hint, and the
    kind of input."""
    fields = []
    for name, declared in PlateEventFilter.base_filters.items():
        field = {
            "name": name,
            "caption": SEARCH_FILTER_CAPTIONS.get(name, name.replace("_", " ").capitalize()),
            "hint": str(declared.label or ""),
        }
        if name in SEARCH_FILTER_LISTS:
            field["kind"] = SEARCH_FILTER_LISTS[name]
        elif isinstance(declared, django_filters.ChoiceFilter):
            field["kind"] = "choice"
            choices = declared.extra["choices"]
            field["choices"] = [[str(value), str(text)] for value, text in choices]
        elif isinstance(declared, TimestampFilter):
            field["kind"] = "time"
        elif isinstance(declared, django_filters.BooleanFilter):
            field["kind"] = "boolean"
        elif isinstance(declared, django_filters.NumberFilter):
            field["kind"] = "number"
        else:
            field["kind"] = "text"
        fields.append(field)
    return fields


@login_required
@permission_required("events.view_plateevent", raise_exception=True)
def search(request):
    """Every stored read: the OCR-tolerant plate search and the list's filters, a page at a
    time, with the images and a CSV export of the result. The page asks the REST API; its
    state is the query string, so a search can be shared and the back button works."""
    config = {
        "api": {"events": "/api/events/", "cameras": "/api/cameras/", "zones": "/api/zones/"},
        "filters": search_filter_fields(),
        "exportMaxRows": settings.CSV_EXPORT_MAX_ROWS,
    }
    return render(request, "events/search.html", {"search_config": config})
