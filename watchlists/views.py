"""The operators' page of watchlists: the hits work queue."""

from django.contrib.auth.decorators import login_required, permission_required
from django.shortcuts import render

from .models import Hit, WatchlistEntry


@login_required
@permission_required("watchlists.view_hit", raise_exception=True)
def hits(request):
    """Hits to deal with, open ones first: why each matched, and (for operators) its
    acknowledgement. The page asks the REST API (which hides covert lists from those who may
    not see them); its state is the query string, and `?id=` opens one hit."""
    config = {
        "api": {
            "hits": "/api/hits/",
            "rejectReasons": "/api/hits/reject-reasons/",
            "watchlists": "/api/watchlists/",
            "cameras": "/api/cameras/",
            "events": "/api/events/",
        },
        "statuses": [[value, str(label)] for value, label in Hit.Status.choices],
        "categories": [[value, str(label)] for value, label in WatchlistEntry.Category.choices],
        "canAcknowledge": request.user.has_perm("watchlists.change_hit"),
        "canViewReads": request.user.has_perm("events.view_plateevent"),
    }
    return render(request, "watchlists/hits.html", {"hits_config": config})
