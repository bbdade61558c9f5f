"""Links to an event's images, for whoever receives the event.

Signed-in users and API tokens open the API's own image URL, where their permission to view
events decides (`image_link_site`).
"""

from django.urls import reverse

from .models import PlateEvent


def image_link_site(*, event: PlateEvent, kind: str) -> str | None:
    """GET /api/events/{id}/images/{kind}/, relative to this site, or None without an image.
    Reads the stored file name only: no storage call, no query."""
    if not event.__dict__[f"{kind}_image"]:  # the name, or a FieldFile once accessed
        return None
    return reverse("event-image", kwargs={"pk": event.pk, "kind": kind})
