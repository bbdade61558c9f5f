"""The exporters API: exporter CRUD with test/enable/disable, and the delivery outbox with
redelivery."""

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from core.api import ConfigViewSet, Conflict
from core.api_defaults import ModelRolePermission

from .. import selectors, services
from ..filters import ExportDeliveryFilter, ExporterConfigFilter
from ..models import ExportDelivery, ExporterConfig
from .serializers import (
    ExportDeliverySerializer,
    ExporterConfigSerializer,
    ExporterTestResultSerializer,
    RedeliverDeadSerializer,
    RedeliveredSerializer,
)


class ChangePermission(ModelRolePermission):
    """Actions that change a row's state (enable, redeliver) need the change permission."""

    perms_map = {**ModelRolePermission.perms_map, "POST": ["%(app_label)s.change_%(model_name)s"]}


class ExporterConfigViewSet(ConfigViewSet):
    """Exporters (webhooks). `secret` is write-only; `has_secret` says whether one is set."""

    queryset = ExporterConfig.objects.prefetch_related("cameras", "zones", "watchlists")
    serializer_class = ExporterConfigSerializer
    filterset_class = ExporterConfigFilter
    ordering_fields = ("id", "name", "created_at", "last_success_at", "last_error_at")

    @extend_schema(request=None, responses={200: ExporterTestResultSerializer})
    @action(detail=True, methods=["post"], permission_classes=[ChangePermission])
    def test(self, request, pk=None):
        """Send a sample event now (signed and authenticated like a real one) and report the
        receiver's status code, the response time and any error. Nothing enters the outbox."""
        result = services.exporter_test(exporter=self.get_object())
        return Response(ExporterTestResultSerializer(result).data)

    @extend_schema(request=None, responses={200: ExporterConfigSerializer})
    @action(detail=True, methods=["post"], permission_classes=[ChangePermission])
    def enable(self, request, pk=None):
        """Deliver from the next event on; deliveries that waited resume."""
        exporter = services.exporter_set_enabled(exporter=self.get_object(), enabled=True)
        return Response(self.get_serializer(exporter).data)

    @extend_schema(request=None, responses={200: ExporterConfigSerializer})
    @action(detail=True, methods=["post"], permission_classes=[ChangePermission])
    def disable(self, request, pk=None):
        """Stop: new events are not planned for it and its pending deliveries wait."""
        exporter = services.exporter_set_enabled(exporter=self.get_object(), enabled=False)
        return Response(self.get_serializer(exporter).data)


class ExportDeliveryViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """The outbox: one row per request to an exporter, with its attempts and outcome."""

    queryset = ExportDelivery.objects.none()  # the schema's; requests: get_queryset
    serializer_class = ExportDeliverySerializer
    filterset_class = ExportDeliveryFilter
    ordering_fields = ("created_at", "next_attempt_at", "delivered_at", "attempts")
    ordering = ("-created_at",)
    conflict_actions = frozenset({"redeliver"})  # being sent right now (core.schema lists 409)

    def get_queryset(self):
        return selectors.deliveries_visible(user=self.request.user)

    @extend_schema(request=None, responses={200: ExportDeliverySerializer})
    @action(detail=True, methods=["post"], permission_classes=[ChangePermission])
    def redeliver(self, request, pk=None):
        """Send it again from a fresh schedule (dead, or delivered but lost by the receiver).
        A delivery being sent right now answers 409."""
        delivery = self.get_object()
        count = services.deliveries_redeliver(
            deliveries=ExportDelivery.objects.filter(pk=delivery.pk)
        )
        if not count:
            raise Conflict("This delivery is being sent right now.")
        return Response(self.get_serializer(self.get_queryset().get(pk=delivery.pk)).data)

    @extend_schema(request=RedeliverDeadSerializer, responses={200: RedeliveredSerializer})
    @action(
        detail=False,
        methods=["post"],
        url_path="redeliver-dead",
        permission_classes=[ChangePermission],
    )
    def redeliver_dead(self, request):
        """Redeliver every dead delivery (of one exporter, when `exporter` is given)."""
        body = RedeliverDeadSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        dead = ExportDelivery.objects.filter(status=ExportDelivery.Status.DEAD)
        if body.validated_data.get("exporter"):
            dead = dead.filter(exporter=body.validated_data["exporter"])
        return Response({"redelivered": services.deliveries_redeliver(deliveries=dead)})
