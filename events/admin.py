"""The console's view of events: read-only (devices write them), filterable, searchable by
plate (OCR-tolerant, like the API's q=), with the plate crop as a thumbnail.

StatisticsPlate, PlateCountSet and EventDailyStatistics are not registered: they are the
rollup's internal working (a numbered plate list, compressed bitsets, the hourly rows below
added up by day), rebuilt by `manage.py rollup_stats --all`."""

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html

from core.timestamps import TimestampLookupsAdmin

from .models import EventStatistics, PlateEvent, PurgeRun
from .selectors import plate_events_search


class ReadOnlyAdmin(TimestampLookupsAdmin, admin.ModelAdmin):
    """What devices report and the rollup are never edited by hand."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


def _thumbnail(event: PlateEvent, kind: str, height: int):
    if not getattr(event, f"{kind}_image"):
        return "—"
    # The image view checks the user's permission; there is no public /media/ URL.
    url = reverse("event-image", kwargs={"pk": event.pk, "kind": kind})
    return format_html(
        '<a href="{}" target="_blank"><img src="{}" alt="{}" style="max-height:{}px"></a>',
        url,
        url,
        kind,
        height,
    )


@admin.register(PlateEvent)
class PlateEventAdmin(ReadOnlyAdmin):
    list_display = (
        "thumbnail",
        "plate",
        "camera",
        "zone",
        "captured_at",
        "confidence",
        "vehicle_type",
        "direction",
        "source",
        "device",
    )
    list_display_links = ("plate",)
    list_filter = (
        ("captured_at", admin.DateFieldListFilter),
        "source",
        "vehicle_type",
        "direction",
        "camera",
        "device",
    )
    list_select_related = ("camera", "zone", "device")
    search_fields = ("plate",)
    search_help_text = "Plate, OCR-tolerant: 8ABC123 also finds BABC123 and BA8C123."
    show_full_result_count = False  # no COUNT(*) over millions of rows per page
    ordering = ("-captured_at", "-id")
    readonly_fields = ("plate_thumbnail", "frame_thumbnail")
    fieldsets = (
        (None, {"fields": ("plate", "plate_raw", "plate_key", "confidence", "candidates")}),
        ("Where and when", {"fields": ("camera", "zone", "captured_at", "received_at")}),
        (
            "Vehicle",
            {
                "fields": (
                    ("vehicle_type", "vehicle_type_raw", "vehicle_type_confidence"),
                    ("vehicle_color", "vehicle_color_confidence"),
                    ("vehicle_make", "vehicle_make_confidence"),
                    ("vehicle_model", "vehicle_model_confidence"),
                    ("direction", "heading", "speed_kmh"),
                    "country",
                    "region",
                )
            },
        ),
        ("Images", {"fields": ("plate_thumbnail", "frame_thumbnail", "plate_box")}),
        ("Origin", {"fields": ("source", "device", "idempotency_key", "updated_at", "metadata")}),
    )

    @admin.display(description="Plate crop")
    def thumbnail(self, event):
        return _thumbnail(event, "plate", 32)

    @admin.display(description="Plate crop")
    def plate_thumbnail(self, event):
        return _thumbnail(event, "plate", 120)

    @admin.display(description="Frame")
    def frame_thumbnail(self, event):
        return _thumbnail(event, "frame", 360)

    def get_search_results(self, request, queryset, search_term):
        if not search_term.strip():
            return queryset, False
        return plate_events_search(queryset, search_term), False


@admin.register(EventStatistics)
class EventStatisticsAdmin(ReadOnlyAdmin):
    list_display = ("bucket", "camera", "zone", "event_count", "confidence_sum", "rolled_at")
    list_filter = ("camera",)
    list_select_related = ("camera", "zone")
    show_full_result_count = False


# The record of retention runs (read-only).
@admin.register(PurgeRun)
class PurgeRunAdmin(TimestampLookupsAdmin, admin.ModelAdmin):
    list_display = (
        "started_at",
        "trigger",
        "events_deleted",
        "deliveries_deleted",
        "events_held",
        "images_cleared",
        "files_deleted",
        "orphan_files_deleted",
        "plates_forgotten",
        "steps",
        "finished_at",
        "failed",
    )
    list_filter = ("trigger",)
    date_hierarchy = "started_at"
    readonly_fields = [field.name for field in PurgeRun._meta.fields]

    @admin.display(boolean=True, description="Failed")
    def failed(self, obj):
        return bool(obj.error)

    # Written only by the purge itself: an audit record nobody edits.
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
