"""Acknowledging hits: once, by whom and when."""

from django.core.exceptions import ValidationError
from django.utils import timezone

from ..models import Hit, RejectReason


class AlreadyAcknowledged(Exception):
    """The hit was acknowledged before (by this request's loser of a race, too)."""


def hit_acknowledge(*, hit: Hit, outcome: str, reason: str = "", note: str = "", user) -> Hit:
    """Close an open hit as accepted, rejected (with one of the operators' reasons) or no
    action. A rejected hit leaves its entry on the list. The update is conditional on the
    hit still being open, so of two concurrent acknowledgements exactly one wins."""
    closed = {Hit.Status.ACCEPTED, Hit.Status.REJECTED, Hit.Status.NO_ACTION}
    if outcome not in closed:
        raise ValidationError({"outcome": f"One of: {', '.join(sorted(closed))}."})
    found = None
    if outcome == Hit.Status.REJECTED:
        if not reason:
            raise ValidationError({"reason": "A rejection needs a reason."})
        found = RejectReason.objects.filter(code=reason, active=True).first()
        if found is None:
            raise ValidationError({"reason": f"Unknown reason {reason!r}."})
    elif reason:
        raise ValidationError({"reason": "Only a rejection has a reason."})
    now = timezone.now()
    changed = Hit.objects.filter(pk=hit.pk, status=Hit.Status.OPEN).update(
        status=outcome, reason=found, note=note, acknowledged_by=user, acknowledged_at=now
    )
    if not changed:
        raise AlreadyAcknowledged
    hit.refresh_from_db()
    return hit
