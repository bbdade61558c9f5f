"""Admin pages of operations: the record of retention runs (read-only)."""

from django.contrib import admin

from anpr.timestamps import TimestampLookupsAdmin
from events.models import PurgeRun


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
