"""Request and response shapes of the watchlists API."""

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError as DjangoValidationError
from django.urls import reverse
from rest_framework import serializers

from cameras.models import Camera, Zone
from core.api import ModelCleanSerializer, related_ids_check, validation_errors_as_dict
from events.image_links import image_link_site

from ..models import (
    IMPORT_MODES,
    Hit,
    RejectReason,
    Watchlist,
    WatchlistEntry,
    WatchlistImport,
    watchlist_scope_check,
)
from ..services.entries import plate_for_list


class WatchlistSerializer(ModelCleanSerializer):
    cameras = serializers.PrimaryKeyRelatedField(
        many=True, queryset=Camera.objects.all(), required=False
    )
    zones = serializers.PrimaryKeyRelatedField(
        many=True, queryset=Zone.objects.all(), required=False
    )
    owners = serializers.PrimaryKeyRelatedField(
        many=True, queryset=get_user_model().objects.all(), required=False
    )
    entry_count = serializers.SerializerMethodField()
    clean_exclude = ("cameras", "zones", "owners")

    class Meta:
        model = Watchlist
        fields = (
            "id",
            "name",
            "kind",
            "priority",
            "colour",
            "enabled",
            "covert",
            "owners",
            "match_strategy",
            "edit_budget",
            "match_candidates",
            "cameras",
            "zones",
            "directions",
            "schedule_weekdays",
            "schedule_windows",
            "time_zone",
            "hit_retention_days",
            "notify_emails",
            "source_url",
            "source_mode",
            "fetch_interval_minutes",
            "last_fetched_at",
            "last_fetch_status",
            "last_fetch_error",
            "entry_count",
            "created_at",
            "updated_at",
        )
        read_only_fields = (
            "created_at",
            "updated_at",
            "last_fetched_at",
            "last_fetch_status",
            "last_fetch_error",
        )

    def to_internal_value(self, data):
        related_ids_check(data, fields=("cameras", "zones", "owners"))
        return super().to_internal_value(data)

    def get_entry_count(self, watchlist) -> int:
        return watchlist.entries.count()

    def validate(self, attrs):
        attrs = super().validate(attrs)
        current = self.instance
        kind = attrs.get("kind", current.kind if current else Watchlist.Kind.ALERT)
        cameras = attrs["cameras"] if "cameras" in attrs else (current and current.cameras.all())
        zones = attrs["zones"] if "zones" in attrs else (current and current.zones.all())
        try:
            watchlist_scope_check(kind=kind, cameras=list(cameras or []), zones=list(zones or []))
        except DjangoValidationError as error:
            raise serializers.ValidationError(validation_errors_as_dict(error)) from None
        return attrs


class WatchlistEntrySerializer(serializers.ModelSerializer):
    plate = serializers.CharField(
        max_length=32,
        help_text="As written; stored normalized (upper-case letters and digits; a pattern "
        "list keeps ? and *). Answers give the normalized form; plate_raw is as entered.",
    )
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = WatchlistEntry
        fields = (
            "id",
            "plate",
            "plate_raw",
            "description",
            "category",
            "reference",
            "make",
            "colour",
            "country",
            "valid_from",
            "valid_until",
            "created_by",
            "created_at",
            "updated_at",
        )
        read_only_fields = ("plate_raw", "created_at", "updated_at")

    def validate(self, attrs):
        watchlist = self.context["watchlist"]
        entry = self.instance or WatchlistEntry(watchlist=watchlist)
        if "plate" in attrs:
            raw = attrs.pop("plate")
            try:
                attrs["plate"] = plate_for_list(watchlist=watchlist, raw=raw)
            except DjangoValidationError as error:
                raise serializers.ValidationError(validation_errors_as_dict(error)) from None
            attrs["plate_raw"] = raw.strip()
        for name, value in attrs.items():
            setattr(entry, name, value)
        try:
            entry.full_clean(exclude=["created_by"])
        except DjangoValidationError as error:
            raise serializers.ValidationError(validation_errors_as_dict(error)) from None
        return attrs


class EntryImportSerializer(serializers.Serializer):
    file = serializers.FileField(
        help_text="CSV, UTF-8 (a byte-order mark is allowed), header "
        "plate,description,category,reference,make,colour,country,valid_from,valid_until "
        "(plate required, the others optional)."
    )
    mode = serializers.ChoiceField(
        choices=IMPORT_MODES,
        default="upsert",
        help_text="upsert: add and change; replace: also remove entries the file lacks.",
    )
    dry_run = serializers.BooleanField(
        default=False, help_text="Answer the report and change nothing."
    )


class ImportReportSerializer(serializers.Serializer):
    mode = serializers.CharField()
    dry_run = serializers.BooleanField()
    counts = serializers.DictField(child=serializers.IntegerField())
    created = serializers.ListField(child=serializers.DictField(), help_text="The first 1000.")
    updated = serializers.ListField(
        child=serializers.DictField(), help_text="The first 1000, with old and new values."
    )
    removed = serializers.ListField(child=serializers.DictField(), help_text="The first 1000.")
    refused = serializers.ListField(
        child=serializers.DictField(), help_text="Every refused line: its number and reason."
    )


class WatchlistImportSerializer(serializers.ModelSerializer):
    url = serializers.SerializerMethodField()
    report = ImportReportSerializer(
        read_only=True, allow_null=True, help_text="When done: the synchronous import's answer."
    )

    class Meta:
        model = WatchlistImport
        fields = (
            "id",
            "url",
            "watchlist",
            "source",
            "mode",
            "dry_run",
            "status",
            "lines_done",
            "lines_total",
            "report",
            "error",
            "created_by",
            "created_at",
            "started_at",
            "finished_at",
        )
        read_only_fields = fields

    def get_url(self, job) -> str:
        path = reverse(
            "watchlist-import-detail", kwargs={"watchlist_pk": job.watchlist_id, "pk": job.pk}
        )
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request else path


class HitSerializer(serializers.ModelSerializer):
    watchlist_name = serializers.CharField(source="watchlist.name", read_only=True)
    camera_name = serializers.CharField(source="camera.name", read_only=True)
    plate_image_url = serializers.SerializerMethodField()
    reason = serializers.SlugRelatedField(slug_field="code", read_only=True)
    acknowledged_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = Hit
        fields = (
            "id",
            "watchlist",
            "watchlist_name",
            "entry",
            "event",
            "camera",
            "camera_name",
            "plate",
            "category",
            "captured_at",
            "created_at",
            "snapshot",
            "status",
            "reason",
            "note",
            "acknowledged_by",
            "acknowledged_at",
            "plate_image_url",
        )
        read_only_fields = fields

    def get_plate_image_url(self, hit) -> str | None:
        """The read's plate crop while the read and its image are kept (served to users
        allowed to view events)."""
        if hit.event is None:
            return None
        url = image_link_site(event=hit.event, kind="plate")
        request = self.context.get("request")
        return request.build_absolute_uri(url) if url and request else url


class RejectReasonSerializer(serializers.ModelSerializer):
    class Meta:
        model = RejectReason
        fields = ("code", "label")
        read_only_fields = fields


class HitAcknowledgeSerializer(serializers.Serializer):
    outcome = serializers.ChoiceField(
        choices=[c for c in Hit.Status.values if c != Hit.Status.OPEN]
    )
    reason = serializers.CharField(
        required=False, allow_blank=True, max_length=40, help_text="A reject reason's code."
    )
    note = serializers.CharField(required=False, allow_blank=True, max_length=2000)
