"""The operators' console for exporters and the delivery outbox."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError

from core import masking
from core.ids import ascii_integer
from core.timestamps import TimestampLookupsAdmin
from watchlists.selectors import watchlists_visible

from . import selectors, services
from .models import ExportDelivery, ExporterConfig


class ExporterConfigForm(forms.ModelForm):
    """Secrets are write-only here too: the secret is never rendered back into the page, the
    URL's query and header values show as masks, and a mask (or an empty secret box) saved
    unchanged keeps the stored value (services.exporter_secrets_resolve)."""

    url = forms.URLField(
        max_length=500,
        assume_scheme="https",
        help_text="http:// or https:// address, no credentials. Its query shows as ?••••; "
        "a new scheme, host or port drops the stored secret, header values and query.",
    )
    secret = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="Write-only. Leave empty to keep the current secret.",
    )

    class Meta:
        model = ExporterConfig
        fields = (
            "name",
            "kind",
            "enabled",
            "url",
            "method",
            "headers",
            "payload_format",
            "batch_size",
            "auth_type",
            "username",
            "secret",
            "cameras",
            "zones",
            "min_confidence",
            "send",
            "watchlists",
            "timeout_seconds",
            "max_attempts",
        )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.initial["url"] = masking.url_masked(self.instance.url)
            self.initial["headers"] = masking.headers_masked(self.instance.headers)
            self.initial["secret"] = ""  # not even in the template's context
            if self.instance.secret and "secret" in self.fields:
                self.fields["secret"].help_text = (
                    "A secret is set. Write-only: leave empty to keep it, type a new one to "
                    "replace it."
                )

    #: Who saves (set by ExporterConfigAdmin.get_form): see services.exporter_address_check.
    editor = None

    def clean(self):
        # Before the model's clean(), so "auth needs a secret" sees the secret kept or dropped.
        cleaned = super().clean()
        cleaned.update(
            services.exporter_secrets_resolve(
                exporter=self.instance if self.instance.pk else None,
                url=cleaned.get("url"),
                headers=cleaned.get("headers"),
                secret=cleaned.get("secret") or masking.MASK,
            )
        )
        if self.instance.pk and self.editor is not None:
            try:
                services.exporter_address_check(
                    exporter=self.instance, url=cleaned.get("url"), user=self.editor
                )
            except ValidationError as error:
                self.add_error(None, error)
        return cleaned


class RecentDeliveryInline(admin.TabularInline):
    """The exporter's 20 latest deliveries."""

    model = ExportDelivery
    fields = (
        "id",
        "status",
        "attempts",
        "last_status_code",
        "last_error",
        "response_ms",
        "next_attempt_at",
        "delivered_at",
        "created_at",
    )
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True
    verbose_name_plural = "recent deliveries"

    def has_add_permission(self, request, obj=None):
        return False

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        exporter_id = (request.resolver_match.kwargs or {}).get("object_id")
        if ascii_integer(str(exporter_id or "")) is None:
            return queryset.none()
        recent = (
            selectors.deliveries_visible(user=request.user)
            .filter(exporter_id=exporter_id)
            .order_by("-created_at")
        )
        return queryset.filter(pk__in=list(recent.values_list("pk", flat=True)[:20]))


@admin.register(ExporterConfig)
class ExporterConfigAdmin(masking.WriteOnlyAdminMixin, admin.ModelAdmin):
    form = ExporterConfigForm
    write_only_display = {"url": "url_shown", "headers": "headers_shown", "secret": "secret_shown"}
    list_display = (
        "name",
        "kind",
        "url_shown",
        "auth_type",
        "enabled",
        "last_success_at",
        "last_error",
    )
    list_filter = ("enabled", "kind", "auth_type")
    search_fields = ("name",)  # not the URL: a search would reveal its query piece by piece
    filter_horizontal = ("cameras", "zones", "watchlists")
    readonly_fields = ("last_success_at", "last_error", "last_error_at", "created_at", "updated_at")
    inlines = (RecentDeliveryInline,)
    actions = ("send_test", "enable", "disable", "redeliver_dead")
    fieldsets = (
        (None, {"fields": ("name", "kind", "enabled")}),
        ("Request", {"fields": ("url", "method", "headers", "payload_format", "batch_size")}),
        ("Authentication", {"fields": ("auth_type", "username", "secret")}),
        ("Filters", {"fields": ("send", "cameras", "zones", "min_confidence", "watchlists")}),
        ("Delivery", {"fields": ("timeout_seconds", "max_attempts")}),
        (
            "Status",
            {
                "fields": (
                    "last_success_at",
                    "last_error",
                    "last_error_at",
                    "created_at",
                    "updated_at",
                )
            },
        ),
    )

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        return type(form.__name__, (form,), {"editor": request.user})

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        # Covert lists only for those who may see them (watchlists.selectors).
        if db_field.name == "watchlists":
            kwargs["queryset"] = watchlists_visible(user=request.user)
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def save_related(self, request, form, formsets, change):
        # A covert list the user may not see was not offered: the exporter keeps it.
        visible = watchlists_visible(user=request.user).values("pk")
        hidden = list(form.instance.watchlists.exclude(pk__in=visible)) if change else []
        super().save_related(request, form, formsets, change)
        if hidden:
            form.instance.watchlists.add(*hidden)

    @admin.display(description="URL")
    def url_shown(self, obj):
        return masking.url_masked(obj.url)

    @admin.display(description="Headers")
    def headers_shown(self, obj):
        return ", ".join(
            f"{name}: {value}" for name, value in masking.headers_masked(obj.headers).items()
        )

    @admin.display(description="Secret")
    def secret_shown(self, obj):
        return "set" if obj.secret else "not set"

    @admin.action(description="Send a test event now", permissions=["change"])
    def send_test(self, request, queryset):
        for exporter in queryset:
            result = services.exporter_test(exporter=exporter)
            if result.ok:
                self.message_user(
                    request,
                    f"{exporter.name}: HTTP {result.status_code} in {result.response_ms} ms.",
                )
            else:
                self.message_user(
                    request,
                    f"{exporter.name}: failed after {result.response_ms} ms — {result.error}",
                    level=messages.ERROR,
                )

    @admin.action(description="Enable selected exporters", permissions=["change"])
    def enable(self, request, queryset):
        for exporter in queryset:
            services.exporter_set_enabled(exporter=exporter, enabled=True)
        self.message_user(request, f"{queryset.count()} exporter(s) enabled.")

    @admin.action(description="Disable selected exporters", permissions=["change"])
    def disable(self, request, queryset):
        for exporter in queryset:
            services.exporter_set_enabled(exporter=exporter, enabled=False)
        self.message_user(request, f"{queryset.count()} exporter(s) disabled.")

    @admin.action(description="Redeliver their dead deliveries", permissions=["change"])
    def redeliver_dead(self, request, queryset):
        count = services.deliveries_redeliver(
            deliveries=ExportDelivery.objects.filter(
                exporter__in=queryset, status=ExportDelivery.Status.DEAD
            )
        )
        self.message_user(request, f"{count} dead deliveries queued again.")


@admin.register(ExportDelivery)
class ExportDeliveryAdmin(TimestampLookupsAdmin, admin.ModelAdmin):
    list_display = (
        "id",
        "exporter",
        "kind",
        "status",
        "attempts",
        "last_status_code",
        "response_ms",
        "next_attempt_at",
        "delivered_at",
        "created_at",
    )
    list_filter = ("status", "kind", "exporter")
    list_select_related = ("exporter",)
    date_hierarchy = "created_at"
    search_fields = ("=id", "last_error")
    actions = ("redeliver",)
    readonly_fields = (
        "id",
        "exporter",
        "kind",
        "event_list",
        "hit_count",
        "status",
        "attempts",
        "next_attempt_at",
        "queued_at",
        "last_status_code",
        "last_error",
        "response_ms",
        "delivered_at",
        "created_at",
        "updated_at",
    )
    fields = readonly_fields

    def has_add_permission(self, request):
        return False

    def get_queryset(self, request):
        # An exporter filtered by a covert list: its outbox only to those who see the list.
        return selectors.deliveries_visible(user=request.user)

    @admin.display(description="Events")
    def event_list(self, obj):
        return ", ".join(str(link.event_id) for link in obj.event_links.all())

    @admin.display(description="Hits")
    def hit_count(self, obj):
        # How many, not which: a covert list's hits are not named to every operator.
        return obj.hit_links.count()

    @admin.action(description="Redeliver selected deliveries", permissions=["change"])
    def redeliver(self, request, queryset):
        count = services.deliveries_redeliver(deliveries=queryset)
        self.message_user(request, f"{count} deliveries queued again.")
