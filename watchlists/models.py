"""Watchlists (plates of interest), their entries and match keys, and the hits they raise."""

from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import (
    MaxValueValidator,
    MinValueValidator,
    RegexValidator,
    validate_email,
)
from django.db import models

from cameras.models import RETENTION_DAYS_MAX, Camera, Zone
from core.ids import time_ordered_uuid
from events.models import PlateEvent

from . import keys
from .schedule import schedule_windows_check, time_zone_check, weekdays_check

#: How an import treats entries the file lacks: upsert leaves them, replace removes them.
IMPORT_MODES = (("upsert", "upsert"), ("replace", "replace"))


def _all_weekdays():
    return [0, 1, 2, 3, 4, 5, 6]


#: Addresses a list may notify.
NOTIFY_EMAILS_MAX = 20


def notify_emails_check(value) -> None:
    """A list of distinct e-mail addresses, at most NOTIFY_EMAILS_MAX."""
    error = None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        error = 'A list of e-mail addresses, e.g. ["control-room@example.com"].'
    elif len(value) > NOTIFY_EMAILS_MAX:
        error = f"At most {NOTIFY_EMAILS_MAX} addresses."
    elif len({v.lower() for v in value}) != len(value):
        error = "Name each address once."
    else:
        for address in value:
            try:
                validate_email(address)
            except ValidationError:
                error = f"Not an e-mail address: {address[:100]!r}."
                break
    if error:
        raise ValidationError({"notify_emails": error})


#: The longest hit_retention_days: a hundred years (0 keeps hits for ever).
HIT_RETENTION_MAX_DAYS = RETENTION_DAYS_MAX


class Watchlist(models.Model):
    """A list of plates that raise hits when read (alert), are let through (allow: a hit on
    any plate not listed) or silence other lists (ignore)."""

    class Kind(models.TextChoices):
        ALERT = "alert", "Alert on a listed plate"
        ALLOW = "allow", "Alert on a plate not listed"
        IGNORE = "ignore", "Silence allow lists and lower-priority alert lists"

    class Strategy(models.TextChoices):
        EXACT = keys.EXACT, "Exact"
        OCR = keys.OCR, "OCR-tolerant"
        PATTERN = keys.PATTERN, "Pattern (? and *)"

    name = models.CharField(max_length=100, unique=True)
    kind = models.CharField(max_length=8, choices=Kind.choices, default=Kind.ALERT)
    priority = models.IntegerField(
        default=0, help_text="Higher wins: an ignore list silences alert lists below it."
    )
    colour = models.CharField(
        max_length=7,
        default="#d32f2f",
        validators=[RegexValidator(r"^#[0-9a-fA-F]{6}$", "Use #RRGGBB.")],
    )
    enabled = models.BooleanField(default=True)
    covert = models.BooleanField(
        default=False, help_text="Its hits and entries are seen only by admins and its owners."
    )
    owners = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="+")
    match_strategy = models.CharField(max_length=8, choices=Strategy.choices, default=Strategy.OCR)
    edit_budget = models.PositiveSmallIntegerField(
        default=0,
        validators=[MaxValueValidator(2)],
        help_text="Extra edits beyond the OCR-confusable characters (ocr lists only): 1 on "
        "lists of up to 100,000 entries and plates of 6+ characters, 2 on lists of up to "
        "10,000 entries and plates of 7+.",
    )
    match_candidates = models.BooleanField(
        default=True, help_text="Also match the OCR's other candidates of a read."
    )
    cameras = models.ManyToManyField(Camera, blank=True, related_name="+")
    zones = models.ManyToManyField(Zone, blank=True, related_name="+")
    directions = models.JSONField(
        default=list, blank=True, help_text='Directions in scope, e.g. ["in"]; empty: all.'
    )
    schedule_weekdays = models.JSONField(
        default=_all_weekdays, help_text="Active weekdays, 0 (Monday) to 6 (Sunday)."
    )
    schedule_windows = models.JSONField(
        default=list,
        blank=True,
        help_text='Active times, e.g. [{"start": "07:00", "end": "19:00"}]; empty: all day.',
    )
    time_zone = models.CharField(max_length=64, default="UTC")
    source_url = models.URLField(
        max_length=500,
        blank=True,
        help_text="A CSV fetched on a schedule (http or https, no credentials in it); while "
        "set, the entries change only by that fetch.",
    )
    source_mode = models.CharField(
        max_length=8,
        choices=IMPORT_MODES,
        default="replace",
        help_text="How each fetch imports: replace also removes entries the file lacks.",
    )
    fetch_interval_minutes = models.PositiveIntegerField(
        default=60, validators=[MinValueValidator(5), MaxValueValidator(7 * 24 * 60)]
    )
    last_fetched_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_fetch_status = models.CharField(
        max_length=8, blank=True, editable=False, help_text="ok, failed, or empty: not yet."
    )
    last_fetch_error = models.CharField(max_length=1000, blank=True, editable=False)
    hit_retention_days = models.PositiveIntegerField(
        null=True,
        blank=True,
        # Bounded: a cut-off before year 1 cannot be computed, and would stop every purge.
        validators=[MaxValueValidator(HIT_RETENTION_MAX_DAYS)],
        help_text=f"Empty: the camera's event retention; 0: for ever; at most "
        f"{HIT_RETENTION_MAX_DAYS} days.",
    )
    notify_emails = models.JSONField(
        default=list,
        blank=True,
        help_text="E-mail addresses told of each hit (list, camera, time, category and a link "
        "to the hit; never the plate).",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("-priority", "name")

    def __str__(self):
        return self.name

    def clean(self):
        if self.edit_budget and self.match_strategy != self.Strategy.OCR:
            raise ValidationError({"edit_budget": "Only ocr lists have an extra edit budget."})
        if self.edit_budget and self.pk:
            limit = keys.BUDGET_MAX_ENTRIES[self.edit_budget]
            if self.entries.count() > limit:
                raise ValidationError(
                    {
                        "edit_budget": f"A budget of {self.edit_budget} needs {limit:,} entries "
                        "or fewer."
                    }
                )
        directions = self.directions
        valid = set(PlateEvent.Direction.values)
        if not isinstance(directions, list) or any(d not in valid for d in directions):
            raise ValidationError({"directions": f"A list of: {', '.join(sorted(valid))}."})
        weekdays_check(self.schedule_weekdays)
        schedule_windows_check(self.schedule_windows)
        source_url_check(self.source_url)
        time_zone_check(self.time_zone)
        notify_emails_check(self.notify_emails)


def source_url_check(url: str) -> None:
    """http or https with a host, and no credentials (they would be shown wherever the list
    is; the fetch sends none)."""
    if not url:
        return
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValidationError({"source_url": "An http:// or https:// URL with a host."})
    if parts.username is not None or parts.password is not None:
        raise ValidationError({"source_url": "No user name or password in the URL."})


def watchlist_scope_check(*, kind: str, cameras, zones) -> None:
    """An allow list fires on every plate it does not list: without cameras or zones it would
    fire on every read. (The form and the serializer call this: M2M fields are not seen by
    the model's clean().)"""
    if kind == Watchlist.Kind.ALLOW and not cameras and not zones:
        raise ValidationError({"cameras": "An allow list needs cameras or zones to watch."})


class WatchlistEntry(models.Model):
    """One plate (or pattern) on a list, with what an operator must know when it is read."""

    class Category(models.TextChoices):
        STOLEN_VEHICLE = "stolen_vehicle", "Stolen vehicle"
        STOLEN_PLATE = "stolen_plate", "Stolen plate"
        WANTED = "wanted", "Wanted"
        MISSING_PERSON = "missing_person", "Missing person"
        STAFF = "staff", "Staff"
        VISITOR = "visitor", "Visitor"
        PERMIT = "permit", "Permit"
        OTHER = "other", "Other"

    id = models.UUIDField(primary_key=True, default=time_ordered_uuid, editable=False)
    # No index of its own: the unique (watchlist, plate) one starts with it. No database
    # constraint (as WatchlistEntryKey.entry): each of a million imported rows queued a check
    # for the commit (seconds of it); a list's entries are deleted with it by
    # services/entries.py (or Django's cascade).
    watchlist = models.ForeignKey(
        Watchlist,
        on_delete=models.CASCADE,
        related_name="entries",
        db_index=False,
        db_constraint=False,
    )
    plate = models.CharField(max_length=32, help_text="Normalized (a pattern keeps its ? and *).")
    match_key = models.CharField(
        max_length=40, blank=True, editable=False, help_text="What reads find it by (keys.py)."
    )
    plate_raw = models.CharField(max_length=32, help_text="As it was entered.")
    description = models.CharField(max_length=500, blank=True)
    category = models.CharField(max_length=16, choices=Category.choices, default=Category.OTHER)
    reference = models.CharField(max_length=100, blank=True, help_text="Case number.")
    make = models.CharField(max_length=64, blank=True)
    colour = models.CharField(max_length=32, blank=True)
    country = models.CharField(max_length=32, blank=True, help_text="Country or region.")
    valid_from = models.DateTimeField(null=True, blank=True)
    valid_until = models.DateTimeField(null=True, blank=True)
    # No index nor database constraint: they would cost every imported entry, and users are
    # rarely deleted (Django empties the field then).
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("plate",)
        verbose_name_plural = "watchlist entries"
        indexes = [models.Index(fields=("match_key",), name="entry_match_key")]
        constraints = [
            models.UniqueConstraint(fields=("watchlist", "plate"), name="entry_plate_per_list")
        ]

    def __str__(self):
        return self.plate

    def clean(self):
        if self.valid_from and self.valid_until and self.valid_until <= self.valid_from:
            raise ValidationError({"valid_until": "Must be after valid_from."})


class WatchlistEntryKey(models.Model):
    """A further key of an entry on a list with an edit budget (watchlists/keys.py): found by
    an index lookup at ingest, never a scan. Rebuilt with the entry, or for the whole list
    when its matching changes."""

    # No database constraint: every deletion of entries goes through services/entries.py,
    # which deletes their keys; a constraint would add a check per row to every import and
    # two per deleted entry (a million-entry list took minutes to delete).
    entry = models.ForeignKey(
        WatchlistEntry,
        on_delete=models.CASCADE,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    key = models.CharField(max_length=40)

    class Meta:
        indexes = [
            # With the entry id: the lookup at ingest reads the index alone.
            models.Index(fields=("key", "entry"), name="entry_key"),
            models.Index(fields=("entry",), name="entry_key_entry"),
        ]

    def __str__(self):
        return self.key


class RejectReason(models.Model):
    """Why operators reject a hit (a misread, a plate since recovered...): their own list."""

    code = models.SlugField(max_length=40, unique=True)
    label = models.CharField(max_length=100)
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ("label",)

    def __str__(self):
        return self.label


class Hit(models.Model):
    """A read that matched a list: a snapshot of why (it outlives its read and its entry)
    and what the operator decided."""

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        ACCEPTED = "accepted", "Accepted"
        REJECTED = "rejected", "Rejected"
        NO_ACTION = "no_action", "No action"

    id = models.UUIDField(primary_key=True, default=time_ordered_uuid, editable=False)
    # Indexed by hit_list_captured (watchlist) and hit_once_per_event (event).
    watchlist = models.ForeignKey(
        Watchlist, on_delete=models.CASCADE, related_name="hits", db_index=False
    )
    # No database constraint (as WatchlistEntryKey.entry): the services that delete entries
    # empty their hits' link (the snapshot stays), without a check per deleted entry.
    entry = models.ForeignKey(
        WatchlistEntry,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        db_constraint=False,
    )
    event = models.ForeignKey(
        PlateEvent,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
    )
    camera = models.ForeignKey(Camera, on_delete=models.CASCADE, related_name="+", db_index=False)
    #: What a repeat of the same passage is recognised by: the entry, or list + plate.
    subject = models.CharField(max_length=80)
    plate = models.CharField(max_length=32, help_text="The read's plate, or its candidate.")
    category = models.CharField(max_length=16, blank=True)
    captured_at = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)
    snapshot = models.JSONField(default=dict, help_text="What matched, and why.")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    reason = models.ForeignKey(
        RejectReason, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    note = models.TextField(blank=True, max_length=2000)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    acknowledged_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-captured_at",)
        indexes = [
            models.Index(fields=("-captured_at", "-id"), name="hit_captured"),
            models.Index(fields=("status", "-captured_at"), name="hit_status_captured"),
            models.Index(fields=("watchlist", "-captured_at"), name="hit_list_captured"),
            models.Index(fields=("camera", "-captured_at"), name="hit_camera_captured"),
            models.Index(fields=("plate", "-captured_at"), name="hit_plate_captured"),
            # The repeat check at ingest; also the category filter's neighbour.
            models.Index(fields=("subject", "camera", "captured_at"), name="hit_repeat"),
        ]
        constraints = [
            # A read matches an entry (or an allow list) once, however often it is refined.
            # (Also the index of an event's hits.)
            models.UniqueConstraint(fields=("event", "subject"), name="hit_once_per_event"),
        ]

    def __str__(self):
        return f"{self.plate} on {self.watchlist_id} ({self.status})"


class WatchlistImport(models.Model):
    """An import run by a worker (a file over WATCHLIST_IMPORT_ASYNC_LINES lines, or a fetch
    of the list's source URL): its progress, then the same report a synchronous import
    answers. One active (queued or running) import per list."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    ACTIVE = (Status.QUEUED, Status.RUNNING)

    id = models.UUIDField(primary_key=True, default=time_ordered_uuid, editable=False)
    watchlist = models.ForeignKey(Watchlist, on_delete=models.CASCADE, related_name="imports")
    source = models.CharField(
        max_length=8, choices=(("upload", "upload"), ("url", "url")), default="upload"
    )
    mode = models.CharField(max_length=8, choices=IMPORT_MODES, default="upsert")
    dry_run = models.BooleanField(default=False)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.QUEUED)
    lines_total = models.PositiveIntegerField(default=0)
    lines_done = models.PositiveIntegerField(default=0)
    #: The uploaded CSV until the run ends (then emptied).
    content = models.BinaryField(default=bytes, editable=False)
    report = models.JSONField(null=True, blank=True)
    error = models.CharField(max_length=1000, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    #: Touched with every progress step: a running import not touched for long lost its worker.
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("-created_at",)
        constraints = [
            models.UniqueConstraint(
                fields=("watchlist",),
                condition=models.Q(status__in=("queued", "running")),
                name="one_active_import_per_list",
            )
        ]

    def __str__(self):
        return f"import {self.pk} of {self.watchlist_id} ({self.status})"
