"""E-mail about hits: one message per hit of a list with `notify_emails`, sent by a Celery
task after the read commits, through Django's mail backend.

Least exposure: the message names the list, the camera, the time, the entry's category and
links to the hit on this server (a page that needs a login). It never carries the plate, the
entry's description or the images: mail is copied, forwarded and kept outside our retention
and permissions, and the link shows the rest to whoever may see it.
"""

import logging
from functools import partial
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import transaction
from django.urls import reverse

from ..models import Hit, WatchlistEntry

HIT_EMAIL_TASK = "watchlists.tasks.watchlist_hit_email"
logger = logging.getLogger("anpr.watchlists")


def hit_emails_plan(*, hits: list[Hit]) -> None:
    """Queue the e-mail of each hit whose list notifies someone, once the read commits
    (no query: the list's addresses came with it)."""
    ids = [str(hit.pk) for hit in hits if hit.watchlist.notify_emails]
    if ids:
        transaction.on_commit(partial(_emails_enqueue, ids))


def _emails_enqueue(hit_ids: list[str]) -> None:
    """After the commit: a broker that is down must not turn the device's stored read into an
    error (it would send it again); the e-mails are then lost, and logged by hit id."""
    from celery import current_app

    try:
        for hit_id in hit_ids:
            current_app.send_task(HIT_EMAIL_TASK, args=[hit_id])
    except Exception:  # the broker's errors vary by transport
        logger.warning("Could not queue the e-mail of hits %s.", hit_ids, exc_info=True)


def hit_link(hit: Hit) -> str:
    """The hit's page (the admin's, behind a login), on PUBLIC_BASE_URL when it is set."""
    return settings.PUBLIC_BASE_URL + reverse("admin:watchlists_hit_change", args=[hit.pk])


def _one_line(text: str) -> str:
    """Names typed by operators, on one line: a line break would stop the mail (a header
    cannot hold one) or forge lines of its body."""
    return " ".join(text.split())


def hit_email_send(*, hit_id) -> int:
    """Send one hit's e-mail to its list's current addresses; how many messages were sent
    (0: the hit or the addresses are gone). Errors of the mail backend are raised, for the
    task to retry."""
    hit = Hit.objects.select_related("watchlist", "camera").filter(pk=hit_id).first()
    if hit is None or not hit.watchlist.notify_emails:
        return 0
    watchlist = hit.watchlist
    local = hit.captured_at.astimezone(ZoneInfo(watchlist.time_zone))
    categories = dict(WatchlistEntry.Category.choices)
    category = categories.get(hit.category, hit.category) or "—"
    name = _one_line(watchlist.name)
    camera = _one_line(hit.camera.name or hit.camera.slug)
    lines = [
        f"Watchlist: {name}",
        f"Camera: {camera}",
        f"Time: {local:%Y-%m-%d %H:%M:%S} ({watchlist.time_zone})",
        f"Category: {category}",
        "",
        f"Open the hit (login required): {hit_link(hit)}",
    ]
    message = EmailMessage(
        subject=f"[ANPR] Hit on {name} at {camera}",
        body="\n".join(lines) + "\n",
        # Blind copies: the people on one list's mail need not learn each other's addresses.
        bcc=list(watchlist.notify_emails),
    )
    return message.send()
