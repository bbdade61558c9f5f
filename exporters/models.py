"""What leaves the building: exporter configurations and their delivery outbox."""

import re
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from cameras.models import Camera, Zone
from core.ids import time_ordered_uuid
from core.json_bounds import BoundedJSONField
from events.models import PlateEvent
from watchlists.models import Hit, Watchlist

#: Headers we set ourselves; an exporter's extra headers may not replace them.
RESERVED_HEADERS = frozenset(
    {
        "authorization",
        "connection",
        "content-length",
        "content-type",
        "host",
        "transfer-encoding",
        "x-anpr-delivery",
        "x-anpr-signature",
    }
)


#: RFC 9110's token: what a header name may be made of.
_HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")


def _send_default() -> list[str]:
    return [ExporterConfig.Send.READS]


def _latin1(text: str) -> bool:
    """Whether HTTP can carry the text in a header (http.client encodes them as Latin-1)."""
    try:
        text.encode("latin-1")
    except UnicodeEncodeError:
        return False
    return True


class ExporterConfig(models.Model):
    """A destination that receives our plate events (today: a webhook)."""

    class Kind(models.TextChoices):
        WEBHOOK = "webhook", "Webhook"

    class Method(models.TextChoices):
        POST = "POST", "POST"
        PUT = "PUT", "PUT"
        PATCH = "PATCH", "PATCH"

    class AuthType(models.TextChoices):
        NONE = "none", "None"
        BASIC = "basic", "HTTP basic (username + secret as password)"
        BEARER = "bearer", "Bearer token (secret)"
        HMAC = "hmac", "HMAC-SHA256 signature (X-ANPR-Signature, keyed by secret)"

    class PayloadFormat(models.TextChoices):
        JSON = "json", "ANPR JSON"

    class Send(models.TextChoices):
        """What an exporter may send (a list of them): each is a kind of delivery."""

        READS = "reads", "Reads"
        HITS = "hits", "Watchlist hits"

    name = models.CharField(max_length=100, unique=True)
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.WEBHOOK)
    url = models.URLField(max_length=500, help_text="http:// or https:// address, no credentials.")
    method = models.CharField(max_length=8, choices=Method.choices, default=Method.POST)
    headers = BoundedJSONField(
        default=dict, blank=True, help_text='Extra request headers, e.g. {"X-Site": "north"}.'
    )
    auth_type = models.CharField(max_length=8, choices=AuthType.choices, default=AuthType.NONE)
    username = models.CharField(max_length=200, blank=True, help_text="For HTTP basic auth.")
    # Kept as given because signing and basic/bearer auth need the plain value; never returned
    # by the API, rendered by the admin or written to logs.
    secret = models.CharField(max_length=500, blank=True)
    payload_format = models.CharField(
        max_length=16, choices=PayloadFormat.choices, default=PayloadFormat.JSON
    )
    batch_size = models.PositiveSmallIntegerField(
        default=1,
        validators=[MinValueValidator(1), MaxValueValidator(500)],
        help_text="Events per request when a device posts a batch (1 = one request per event).",
    )
    cameras = models.ManyToManyField(
        Camera, blank=True, related_name="+", help_text="Only these cameras (none = all)."
    )
    zones = models.ManyToManyField(
        Zone, blank=True, related_name="+", help_text="Only these zones (none = all)."
    )
    min_confidence = models.FloatField(
        null=True,
        blank=True,
        validators=[MinValueValidator(0), MaxValueValidator(1)],
        help_text="Only reads at least this confident (0..1); reads without one are skipped.",
    )
    send = BoundedJSONField(
        default=_send_default,
        help_text='What it sends: a list of "reads" and "hits" (watchlist hits), e.g. ["hits"].',
    )
    watchlists = models.ManyToManyField(
        Watchlist,
        blank=True,
        related_name="+",
        help_text="Only reads that match these lists, and only their hits (none = all; a "
        "covert list's hits go only to exporters filtered by it).",
    )
    timeout_seconds = models.FloatField(
        default=10, validators=[MinValueValidator(0.5), MaxValueValidator(60)]
    )
    max_attempts = models.PositiveSmallIntegerField(
        default=16,
        validators=[MinValueValidator(1), MaxValueValidator(50)],
        help_text="Attempts before a delivery is dead; the default spans more than a day.",
    )
    enabled = models.BooleanField(default=True)
    last_success_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_error = models.CharField(max_length=500, blank=True, editable=False)
    last_error_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("name",)
        verbose_name = "exporter"

    def __str__(self):
        return self.name

    def sends(self, what: str) -> bool:
        return isinstance(self.send, list) and what in self.send

    def clean(self):
        errors = {}
        if self.url:
            parts = urlsplit(self.url)
            if parts.scheme not in ("http", "https"):
                errors["url"] = "Use an http:// or https:// address."
            elif parts.username is not None or parts.password is not None:
                errors["url"] = "Put credentials in auth_type/username/secret, not in the URL."
        if not isinstance(self.headers, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in self.headers.items()
        ):
            errors["headers"] = 'Must be a JSON object of strings, e.g. {"X-Site": "north"}.'
        else:
            reserved = sorted(k for k in self.headers if k.strip().lower() in RESERVED_HEADERS)
            if reserved:
                errors["headers"] = f"These headers are set by the exporter: {', '.join(reserved)}."
            elif any("\n" in k + v or "\r" in k + v for k, v in self.headers.items()):
                errors["headers"] = "Header names and values cannot contain line breaks."
            elif not all(_latin1(k + v) for k, v in self.headers.items()):
                errors["headers"] = "HTTP headers take Latin-1 text only (e.g. no 東京)."
            elif not all(_HEADER_NAME.fullmatch(k) for k in self.headers):
                errors["headers"] = "A header name is letters, digits and !#$%&'*+-.^_`|~ only."
            elif any(v != v.strip(" \t") for v in self.headers.values()):
                errors["headers"] = "A header value cannot start or end with a space or tab."
        send_error = send_check(self.send)
        if send_error:
            errors["send"] = send_error
        if self.auth_type != self.AuthType.NONE and not self.secret:
            errors["secret"] = f"Authentication '{self.auth_type}' needs a secret."
        if self.auth_type == self.AuthType.BASIC and not self.username:
            errors["username"] = "HTTP basic authentication needs a username."
        if errors:
            raise ValidationError(errors)


def send_check(value) -> str:
    """Why `send` is refused ("" when it is valid): a non-empty list of known kinds, each once."""
    known = ExporterConfig.Send.values
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        return f'A non-empty list of: {", ".join(known)}, e.g. ["reads", "hits"].'
    unknown = sorted(set(value) - set(known))
    if unknown:
        return f"Unknown: {', '.join(unknown)}. Known: {', '.join(known)}."
    if len(set(value)) != len(value):
        return "Name each one once."
    return ""


class ExportDelivery(models.Model):
    """One request to one exporter carrying one or more events: the outbox row, kept until
    delivered or dead."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        DELIVERING = "delivering", "Delivering"
        DELIVERED = "delivered", "Delivered"
        DEAD = "dead", "Dead"

    # A UUID made here, so a batch is inserted in one statement and receivers get the same
    # X-ANPR-Delivery on every retry.
    id = models.UUIDField(primary_key=True, default=time_ordered_uuid, editable=False)
    exporter = models.ForeignKey(
        ExporterConfig, on_delete=models.CASCADE, related_name="deliveries"
    )
    #: What it carries: reads (events) or watchlist hits; one of ExporterConfig.Send.
    kind = models.CharField(
        max_length=8, choices=ExporterConfig.Send.choices, default=ExporterConfig.Send.READS
    )
    events = models.ManyToManyField(
        PlateEvent, through="ExportDeliveryEvent", related_name="export_deliveries"
    )
    hits = models.ManyToManyField(Hit, through="ExportDeliveryHit", related_name="+")
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(
        help_text="Pending: when it is due. Delivering: when a silent worker is presumed dead."
    )
    queued_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When a task message was last sent; the sweep re-queues only stale ones.",
    )
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    response_ms = models.PositiveIntegerField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("-created_at",)
        verbose_name_plural = "export deliveries"
        indexes = [
            models.Index(fields=("status", "next_attempt_at"), name="delivery_due"),
            # A worker's message claims due pending companions of the same exporters
            # (services.deliveries_attempt): found here without walking other exporters' backlog.
            models.Index(
                fields=("exporter", "next_attempt_at"),
                name="delivery_pending_exporter_due",
                condition=models.Q(status="pending"),
            ),
            models.Index(fields=("exporter", "-created_at"), name="delivery_exporter_created"),
            models.Index(fields=("-created_at",), name="delivery_created"),
        ]

    def __str__(self):
        return f"{self.exporter} {self.status} {self.id}"


class ExportDeliveryEvent(models.Model):
    """Which events one delivery carries."""

    delivery = models.ForeignKey(
        ExportDelivery, on_delete=models.CASCADE, related_name="event_links"
    )
    event = models.ForeignKey(PlateEvent, on_delete=models.CASCADE, related_name="export_links")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=("delivery", "event"), name="delivery_event_unique")
        ]

    def __str__(self):
        return f"{self.delivery_id} → {self.event_id}"


class ExportDeliveryHit(models.Model):
    """Which watchlist hits a `hits` delivery carries."""

    delivery = models.ForeignKey(ExportDelivery, on_delete=models.CASCADE, related_name="hit_links")
    # Indexed: a hit deleted by retention takes its links with it.
    hit = models.ForeignKey(Hit, on_delete=models.CASCADE, related_name="+")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=("delivery", "hit"), name="delivery_hit_unique")
        ]

    def __str__(self):
        return f"{self.delivery_id} → {self.hit_id}"
