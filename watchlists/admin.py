"""Lists, entries and reject reasons in the admin console; hits are read and acknowledged
through the API (the operators' pages will show them)."""

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError

from .models import Hit, RejectReason, Watchlist, WatchlistEntry, watchlist_scope_check
from .selectors import entries_visible, hits_visible, watchlists_visible
from .services.entries import (
    entries_delete,
    entry_room_check,
    entry_save,
    plate_for_list,
    watchlist_delete,
    watchlist_rekey,
)


class WatchlistForm(forms.ModelForm):
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

    def get_queryset(self, request):
        # Operators are staff: a covert list stays hidden from those who neither own it
        # nor are admins, here as in the API.
        return watchlists_visible(user=request.user)

    def save_model(self, request, obj, form, change):
        before = None
        if change:
            before = Watchlist.objects.values_list("match_strategy", "edit_budget").get(pk=obj.pk)
        super().save_model(request, obj, form, change)
        if before is not None and before != (obj.match_strategy, obj.edit_budget):
            watchlist_rekey(watchlist=obj)

    def delete_model(self, request, obj):
        watchlist_delete(watchlist=obj)

    def delete_queryset(self, request, queryset):
        for watchlist in queryset:
            watchlist_delete(watchlist=watchlist)


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

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
        entry_save(entry=obj)

    def delete_model(self, request, obj):
        entries_delete(entry_ids=[obj.pk])

    def delete_queryset(self, request, queryset):
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
