"""Lists (with a CSV import), entries, imports and reject reasons in the admin console; hits
are read and acknowledged through the API (the operators' pages will show them)."""

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path

from .models import (
    IMPORT_MODES,
    Hit,
    RejectReason,
    Watchlist,
    WatchlistEntry,
    WatchlistImport,
    watchlist_scope_check,
)
from .selectors import entries_visible, hits_visible, watchlists_visible
from .services.entries import (
    entries_delete,
    entry_room_check,
    entry_save,
    plate_for_list,
    watchlist_delete,
    watchlist_rekey,
)
from .services.import_jobs import ImportBusy, import_start
from .services.importing import ImportRefused
from .services.sources import hand_edit_check, source_reset


class WatchlistForm(forms.ModelForm):
    source_url = forms.URLField(
        required=False,
        max_length=500,
        assume_scheme="https",
        help_text=Watchlist._meta.get_field("source_url").help_text,
    )

    class Meta:
        model = Watchlist
        fields = (
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
        )

    def clean(self):
        data = super().clean()
        kind = data.get("kind")
        if kind:
            try:
                watchlist_scope_check(
                    kind=kind, cameras=data.get("cameras") or [], zones=data.get("zones") or []
                )
            except ValidationError as error:
                for field, messages in error.message_dict.items():
                    self.add_error(field, messages)
        return data


@admin.register(Watchlist)
class WatchlistAdmin(admin.ModelAdmin):
    form = WatchlistForm
    list_display = (
        "name",
        "kind",
        "priority",
        "match_strategy",
        "edit_budget",
        "enabled",
        "covert",
    )
    list_filter = ("kind", "enabled", "covert", "match_strategy")
    search_fields = ("name",)
    filter_horizontal = ("cameras", "zones", "owners")
    readonly_fields = ("last_fetched_at", "last_fetch_status", "last_fetch_error")
    change_form_template = "admin/watchlists/watchlist_change_form.html"

    def get_urls(self):
        view = self.admin_site.admin_view(self.import_view)
        return [path("<int:pk>/import/", view, name="watchlists_watchlist_import")] + (
            super().get_urls()
        )

    def import_view(self, request, pk):
        """Upload a CSV: a small file answers its report here, a large one becomes an import
        whose page shows its progress, then the same report."""
        watchlist = get_object_or_404(self.get_queryset(request), pk=pk)
        if not self.has_change_permission(request, watchlist):
            raise PermissionDenied
        form, report = ImportForm(request.POST or None, request.FILES or None), None
        if request.method == "POST" and form.is_valid():
            try:
                report = self._import(request, watchlist, **form.cleaned_data)
            except (ImportBusy, ImportRefused, ValidationError) as error:
                message = error.messages if isinstance(error, ValidationError) else [str(error)]
                form.add_error(None, message)
            if isinstance(report, WatchlistImport):
                self.message_user(request, "The import runs in the background.", messages.INFO)
                return redirect("admin:watchlists_watchlistimport_change", report.pk)
        context = {
            **self.admin_site.each_context(request),
            "title": f"Import entries into {watchlist.name}",
            "opts": self.model._meta,
            "original": watchlist,
            "form": form,
            "report": report.as_dict() if report is not None else None,
        }
        return render(request, "admin/watchlists/import.html", context)

    def _import(self, request, watchlist, *, file, mode, dry_run):
        hand_edit_check(watchlist=watchlist)
        if file.size > settings.WATCHLIST_IMPORT_MAX_BYTES:
            raise ValidationError(
                f"The file is larger than {settings.WATCHLIST_IMPORT_MAX_BYTES} bytes."
            )
        return import_start(
            watchlist=watchlist, stream=file.file, mode=mode, dry_run=dry_run, user=request.user
        )

    def get_queryset(self, request):
        # Operators are staff: a covert list stays hidden from those who neither own it
        # nor are admins, here as in the API.
        return watchlists_visible(user=request.user)

    def save_model(self, request, obj, form, change):
        before = None
        if change:
            before = Watchlist.objects.values_list(
                "match_strategy", "edit_budget", "source_url"
            ).get(pk=obj.pk)
        super().save_model(request, obj, form, change)
        if before is not None and before[:2] != (obj.match_strategy, obj.edit_budget):
            watchlist_rekey(watchlist=obj)
        if before is not None and before[2] != obj.source_url:
            source_reset(watchlist=obj)

    def delete_model(self, request, obj):
        watchlist_delete(watchlist=obj)

    def delete_queryset(self, request, queryset):
        for watchlist in queryset:
            watchlist_delete(watchlist=watchlist)


class ImportForm(forms.Form):
    file = forms.FileField(help_text="CSV with the header plate,description,category,...")
    mode = forms.ChoiceField(choices=IMPORT_MODES, initial="upsert")
    dry_run = forms.BooleanField(required=False, help_text="Report only; change nothing.")


@admin.register(WatchlistImport)
class WatchlistImportAdmin(admin.ModelAdmin):
    """Imports run by a worker: progress while they run, then their report."""

    list_display = ("created_at", "watchlist", "source", "mode", "dry_run", "status", "progress")
    list_filter = ("status", "source")
    exclude = ("content",)
    readonly_fields = [f.name for f in WatchlistImport._meta.fields if f.name != "content"] + [
        "progress"
    ]

    @admin.display(description="Lines read")
    def progress(self, job):
        return f"{job.lines_done:,} of {job.lines_total:,}"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def get_queryset(self, request):
        visible = watchlists_visible(user=request.user).values("pk")
        return WatchlistImport.objects.filter(watchlist__in=visible).defer("content")


class WatchlistEntryForm(forms.ModelForm):
    class Meta:
        model = WatchlistEntry
        fields = (
            "watchlist",
            "plate_raw",
            "description",
            "category",
            "reference",
            "make",
            "colour",
            "country",
            "valid_from",
            "valid_until",
        )
        labels = {"plate_raw": "Plate"}

    def clean(self):
        data = super().clean()
        if data.get("watchlist"):
            try:
                hand_edit_check(watchlist=data["watchlist"])
            except ValidationError as error:
                self.add_error("watchlist", error.message_dict["source_url"])
        if data.get("watchlist") and data.get("plate_raw"):
            try:
                self.instance.plate = plate_for_list(
                    watchlist=data["watchlist"], raw=data["plate_raw"]
                )
                if self.instance._state.adding:
                    entry_room_check(watchlist=data["watchlist"])
            except ValidationError as error:
                self.add_error("plate_raw", error.message_dict["plate"])
        return data


@admin.register(WatchlistEntry)
class WatchlistEntryAdmin(admin.ModelAdmin):
    form = WatchlistEntryForm
    list_display = ("plate", "watchlist", "category", "reference", "valid_until")
    list_filter = ("category", ("watchlist", admin.RelatedOnlyFieldListFilter))
    search_fields = ("plate", "reference", "description")
    list_select_related = ("watchlist",)
    show_full_result_count = False

    def get_queryset(self, request):
        return entries_visible(user=request.user).select_related("watchlist")

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "watchlist":
            kwargs["queryset"] = watchlists_visible(user=request.user)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def has_change_permission(self, request, obj=None):
        # A list fetched from its source URL changes only by the fetch.
        if obj is not None and obj.watchlist.source_url:
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        if obj is not None and obj.watchlist.source_url:
            return False
        return super().has_delete_permission(request, obj)

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
        entry_save(entry=obj)

    def delete_model(self, request, obj):
        entries_delete(entry_ids=[obj.pk])

    def delete_queryset(self, request, queryset):
        queryset = queryset.filter(watchlist__source_url="")  # fetched lists: by the fetch
        entries_delete(entry_ids=list(queryset.values_list("pk", flat=True)))


@admin.register(RejectReason)
class RejectReasonAdmin(admin.ModelAdmin):
    list_display = ("code", "label", "active")


@admin.register(Hit)
class HitAdmin(admin.ModelAdmin):
    list_display = ("captured_at", "plate", "watchlist", "camera", "status")
    list_filter = ("status", ("watchlist", admin.RelatedOnlyFieldListFilter))
    readonly_fields = [f.name for f in Hit._meta.fields]

    def has_add_permission(self, request):
        return False

    def get_queryset(self, request):
        return hits_visible(user=request.user)
