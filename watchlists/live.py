"""Hits on the live map: each hit, once its read commits, is a `hit` frame on the live
stream (/ws/events/), registered as a live frame kind (events.live_kinds).

Who receives it: users with watchlists.view_hit; a covert list's hits only its owners and
those who see every covert list (selectors.user_sees_covert), the same rule as the API. The
frame's `hit` has the shape of GET /api/hits/{id}/, so the map treats the open hits it
loads and those it is sent alike.
"""

import functools
from collections.abc import Callable

from django.urls import reverse

from events.broadcast import broadcast_frames, live_frame
from events.live_kinds import LiveAccess, LiveFrameKind

from .api.serializers import HitSerializer
from .models import Hit, Watchlist
from .selectors import user_sees_covert

HIT_FRAME = "hit"
VIEW_HIT = "watchlists.view_hit"
#: The operators' hits page, with the hit to show (the one place the map learns it from).
HITS_PAGE = "/hits/?id="


def hit_live_access(user) -> LiveAccess:
    if not user.has_perm(VIEW_HIT):
        return LiveAccess.NONE
    return LiveAccess.ALL if user_sees_covert(user) else LiveAccess.ADDRESSED


def hit_page_config(user) -> dict | None:
    """What the live map needs to show hits to this user; None: no hits panel."""
    if not user.has_perm(VIEW_HIT):
        return None
    return {"api": reverse("hit-list"), "page": HITS_PAGE, "openShown": 50}


def _covert_owners(hits: list[Hit]) -> dict[int, list[int]]:
    """{covert list id: owner ids} of the hits' lists (one query, at the commit: the owners
    are not among the list fields the ingest hands over, and a list made covert or given
    other owners since is honoured)."""
    owners: dict[int, list[int]] = {}
    rows = Watchlist.objects.filter(
        pk__in={hit.watchlist_id for hit in hits}, covert=True
    ).values_list("pk", "owners")
    for list_id, user_id in rows:
        owners.setdefault(list_id, [])
        if user_id is not None:
            owners[list_id].append(user_id)
    return owners


def _hit_frame(hit: Hit, audience: list[int] | None) -> dict:
    body = {
        "hit": HitSerializer(hit).data,
        "acknowledge_url": reverse("hit-acknowledge", args=[hit.pk]),
    }
    return live_frame(
        kind=HIT_FRAME,
        body=body,
        camera=hit.camera_id,
        zone=hit.event.zone_id if hit.event else None,
        audience=audience,
    )


def hit_frames(*, hits: list[Hit]) -> list[Callable[[], dict]]:
    """The frames of stored hits, each as the function that builds it: on Redis, the live
    stream's sender builds it only while a live map is open. It must not use the database:
    the relations it reads are loaded here."""
    owners = _covert_owners(hits)
    for hit in hits:
        _ = hit.watchlist, hit.camera, hit.event  # loaded where not yet
    return [functools.partial(_hit_frame, hit, owners.get(hit.watchlist_id)) for hit in hits]


def hits_broadcast(*, hits: list[Hit]) -> None:
    """After the commit of the hits' reads (a rolled-back read sends nothing)."""
    if hits:
        broadcast_frames(kind=HIT_FRAME, frames=hit_frames(hits=hits))


#: Registered by WatchlistsConfig.ready().
HIT_LIVE_KIND = LiveFrameKind(
    name=HIT_FRAME, access=hit_live_access, page_config=hit_page_config, prompt=True
)
