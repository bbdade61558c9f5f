"""Request and response shapes of the exporters API. Secrets are write-only: responses say only
whether the secret is set (`has_secret`) and mask header values and the URL's query (where
tokens live); see core.masking."""

from rest_framework import serializers

from cameras.models import Camera, Zone
from core import masking
from core.api import ModelCleanSerializer, related_ids_check
from watchlists.models import Watchlist
from watchlists.selectors import watchlists_visible

from .. import services
from ..models import ExportDelivery, ExporterConfig


class VisibleWatchlistsField(serializers.PrimaryKeyRelatedField):
    """Lists the requesting user may see: a covert list they may not see is neither offered
    nor shown (an exporter keeps it when such a user saves the exporter)."""

    def get_queryset(self):
        request = self.context.get("request")
        if request is None:
            return Watchlist.objects.none()
        return watchlists_visible(user=request.user)


class ExporterConfigSerializer(ModelCleanSerializer):
    secret = serializers.CharField(
        write_only=True,
        required=False,
        allow_blank=True,
        max_length=500,
        style={"input_type": "password"},
        help_text="Password (basic), token (bearer) or signing key (hmac). Never returned; "
        "omit it (or send ••••) on update to keep the current one, unless `url` moves to "
        "another scheme, host or port.",
    )
    has_secret = serializers.SerializerMethodField()
    cameras = serializers.PrimaryKeyRelatedField(
        many=True, queryset=Camera.objects.all(), required=False
    )
    zones = serializers.PrimaryKeyRelatedField(
        many=True, queryset=Zone.objects.all(), required=False
    )
    watchlists = VisibleWatchlistsField(
        many=True,
        required=False,
        help_text="Only reads that match one of these watchlists, and only their hits (empty: "
        "all). Replaces the former `plates` filter. A covert list's hits go only to exporters "
        "filtered by it; covert lists you may not see are not shown and are kept.",
    )
    clean_exclude = ("cameras", "zones", "watchlists")

    class Meta:
        model = ExporterConfig
        fields = (
            "id",
            "name",
            "kind",
            "url",
            "method",
            "headers",
            "auth_type",
            "username",
            "secret",
            "has_secret",
            "payload_format",
            "batch_size",
            "cameras",
            "zones",
            "min_confidence",
            "send",
            "watchlists",
            "timeout_seconds",
            "max_attempts",
            "enabled",
            "last_success_at",
            "last_error",
            "last_error_at",
            "created_at",
            "updated_at",
        )
        read_only_fields = (
            "last_success_at",
            "last_error",
            "last_error_at",
            "created_at",
            "updated_at",
        )
        extra_kwargs = {
            "url": {
                "help_text": "http:// or https:// address. Answers mask its query (?••••); "
                "sent back masked, the stored query is kept. A new scheme, host or port drops "
                "the stored secret, header values and query unless new ones come with it."
            },
            "headers": {
                "help_text": 'Extra request headers, e.g. {"X-Api-Key": "…"}. Answers mask '
                "the values (••••); a masked value sent back keeps the stored one."
            },
            "send": {
                "help_text": 'What it sends, a list: "reads" (each read, as `events`) and/or '
                '"hits" (watchlist hits, as `hits`). Default ["reads"].'
            },
        }

    def to_internal_value(self, data):
        related_ids_check(data, fields=("cameras", "zones", "watchlists"))
        return super().to_internal_value(data)

    def get_has_secret(self, obj) -> bool:
        return bool(obj.secret)

    def validate(self, attrs):
        attrs.update(
            services.exporter_secrets_resolve(
                exporter=self.instance,
                url=attrs.get("url"),
                headers=attrs.get("headers"),
                secret=attrs.get("secret"),
            )
        )
        request = self.context.get("request")
        if self.instance is not None and request is not None:
            services.exporter_address_check(
                exporter=self.instance, url=attrs.get("url"), user=request.user
            )
        return super().validate(attrs)

    def update(self, instance, validated_data):
        if "watchlists" in validated_data:
            validated_data["watchlists"] = [
                *validated_data["watchlists"],
                *self._hidden_watchlists(instance),
            ]
        return super().update(instance, validated_data)

    def _hidden_watchlists(self, instance) -> list[Watchlist]:
        visible = self.fields["watchlists"].child_relation.get_queryset().values("pk")
        return list(instance.watchlists.exclude(pk__in=visible))

    def to_representation(self, instance):
        data = super().to_representation(instance)
        data["url"] = masking.url_masked(instance.url)
        data["headers"] = masking.headers_masked(instance.headers)
        if data.get("watchlists"):
            hidden = {w.pk for w in self._hidden_watchlists(instance)}
            data["watchlists"] = [pk for pk in data["watchlists"] if pk not in hidden]
        return data


class ExporterTestResultSerializer(serializers.Serializer):
    ok = serializers.BooleanField()
    status_code = serializers.IntegerField(allow_null=True)
    response_ms = serializers.IntegerField()
    error = serializers.CharField(allow_blank=True)
    delivery_id = serializers.CharField(help_text="The X-ANPR-Delivery the sample carried.")


class ExportDeliverySerializer(serializers.ModelSerializer):
    exporter_name = serializers.CharField(source="exporter.name", read_only=True)
    events = serializers.SerializerMethodField()
    hits = serializers.SerializerMethodField()

    class Meta:
        model = ExportDelivery
        fields = (
            "id",
            "exporter",
            "exporter_name",
            "kind",
            "events",
            "hits",
            "status",
            "attempts",
            "next_attempt_at",
            "last_status_code",
            "last_error",
            "response_ms",
            "delivered_at",
            "created_at",
            "updated_at",
        )
        read_only_fields = fields

    def get_events(self, obj) -> list[str]:
        return [str(link.event_id) for link in obj.event_links.all()]

    def get_hits(self, obj) -> list[str]:
        """The ids of the hits a `hits` delivery carries, but those of covert lists the user
        may not see."""
        hidden = self._covert_hidden()
        return [str(link.hit_id) for link in obj.hit_links.all() if link.watchlist_id not in hidden]

    def _covert_hidden(self) -> set[int]:
        """Ids of the covert lists the requesting user may not see (asked once a response)."""
        root = self.root
        if not hasattr(root, "_covert_hidden_ids"):
            request = self.context.get("request")
            visible = watchlists_visible(user=request.user if request else None).values("pk")
            root._covert_hidden_ids = set(
                Watchlist.objects.filter(covert=True)
                .exclude(pk__in=visible)
                .values_list("pk", flat=True)
            )
        return root._covert_hidden_ids


class RedeliverDeadSerializer(serializers.Serializer):
    exporter = serializers.PrimaryKeyRelatedField(
        queryset=ExporterConfig.objects.all(),
        required=False,
        help_text="Only this exporter's dead deliveries (default: all).",
    )


class RedeliveredSerializer(serializers.Serializer):
    redelivered = serializers.IntegerField()
