"""The watchlists API: lists, their entries (with CSV import and export), and hits with
their acknowledgement. Covert lists, their entries and hits are seen only by admins and
the lists' owners (watchlists.selectors)."""

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from django.http import StreamingHttpResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import exceptions, mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response

from core.api import ConfigViewSet, Conflict, validation_errors_as_dict
from core.api_defaults import ModelRolePermission
from core.ids import ascii_integer

from .. import selectors
from ..filters import HitFilter, WatchlistEntryFilter, WatchlistFilter
from ..models import WatchlistEntry, WatchlistImport
from ..services.entries import entries_delete, entry_save, watchlist_delete, watchlist_rekey
from ..services.hits import AlreadyAcknowledged, hit_acknowledge
from ..services.import_jobs import ImportBusy, import_start
from ..services.importing import ImportRefused, entries_export
from ..services.sources import hand_edit_check, source_reset
from .serializers import (
    EntryImportSerializer,
    HitAcknowledgeSerializer,
    HitSerializer,
    ImportReportSerializer,
    RejectReasonSerializer,
    WatchlistEntrySerializer,
    WatchlistImportSerializer,
    WatchlistSerializer,
)


class ChangePermission(ModelRolePermission):
    """POST actions that change rows (import, acknowledge) need the change permission."""

    perms_map = {**ModelRolePermission.perms_map, "POST": ["%(app_label)s.change_%(model_name)s"]}


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The upload is too large."
    default_code = "too_large"


class WatchlistViewSet(ConfigViewSet):
    """Watchlists. Changing a list's strategy or edit budget re-indexes its entries."""

    serializer_class = WatchlistSerializer
    filterset_class = WatchlistFilter
    ordering_fields = ("id", "name", "priority", "created_at")

    def get_queryset(self):
        return selectors.watchlists_visible(user=self.request.user)

    def perform_update(self, serializer):
        before = (serializer.instance.match_strategy, serializer.instance.edit_budget)
        source_before = serializer.instance.source_url
        with transaction.atomic():
            super().perform_update(serializer)
            watchlist = serializer.instance
            if before != (watchlist.match_strategy, watchlist.edit_budget):
                watchlist_rekey(watchlist=watchlist)
            if source_before != watchlist.source_url:
                source_reset(watchlist=watchlist)

    def perform_destroy(self, instance):
        watchlist_delete(watchlist=instance)


@extend_schema_view(
    **{
        name: extend_schema(parameters=[OpenApiParameter("watchlist_pk", OpenApiTypes.INT, "path")])
        for name in (
            "list",
            "create",
            "retrieve",
            "update",
            "partial_update",
            "destroy",
            "import_csv",
            "export_csv",
        )
    }
)
class WatchlistEntryViewSet(ConfigViewSet):
    """A list's entries: plates with what an operator must know when one is read."""

    serializer_class = WatchlistEntrySerializer
    filterset_class = WatchlistEntryFilter
    ordering_fields = ("plate", "created_at", "valid_until")
    ordering = ("plate",)

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # the schema, made without a request
            return WatchlistEntry.objects.none()
        return selectors.entries_visible(
            user=self.request.user, watchlist_id=self.kwargs["watchlist_pk"]
        ).select_related("created_by")

    def watchlist(self):
        if not hasattr(self, "_watchlist"):
            self._watchlist = get_object_or_404(
                selectors.watchlists_visible(user=self.request.user),
                pk=self.kwargs["watchlist_pk"],
            )
        return self._watchlist

    def get_serializer_context(self):
        context = super().get_serializer_context()
        if ascii_integer(str(self.kwargs.get("watchlist_pk", ""))) is not None:
            context["watchlist"] = self.watchlist()
        return context

    def perform_create(self, serializer):
        self._hand_edit_check()
        self._save(serializer, watchlist=self.watchlist(), created_by=self.request.user)

    def perform_update(self, serializer):
        self._hand_edit_check()
        self._save(serializer)

    def _hand_edit_check(self):
        try:
            hand_edit_check(watchlist=self.watchlist())
        except DjangoValidationError as error:
            raise exceptions.ValidationError(validation_errors_as_dict(error)) from None

    def _save(self, serializer, **extra):
        entry = serializer.instance or WatchlistEntry()
        for name, value in {**serializer.validated_data, **extra}.items():
            setattr(entry, name, value)
        serializer.instance = entry_save(entry=entry)

    def perform_destroy(self, instance):
        self._hand_edit_check()
        entries_delete(entry_ids=[instance.pk])

    @extend_schema(
        request={"multipart/form-data": EntryImportSerializer},
        responses={200: ImportReportSerializer, 202: WatchlistImportSerializer},
    )
    @action(
        detail=False,
        methods=["post"],
        url_path="import",
        parser_classes=[MultiPartParser],
        permission_classes=[ChangePermission],
    )
    def import_csv(self, request, watchlist_pk=None):
        """Import a CSV of entries: `dry_run` answers the report and changes nothing. Files
        over WATCHLIST_IMPORT_MAX_BYTES are refused (413) before they are read; files over
        WATCHLIST_IMPORT_ASYNC_LINES lines run as a task: 202 with the import to follow
        (its `url`). A second import of a list while one is queued or running is a 409."""
        length = ascii_integer(request.META.get("CONTENT_LENGTH") or "")
        if length is not None and length > settings.WATCHLIST_IMPORT_MAX_BYTES:
            raise PayloadTooLarge(
                f"The upload is larger than {settings.WATCHLIST_IMPORT_MAX_BYTES} bytes."
            )
        watchlist = self.watchlist()
        self._hand_edit_check()
        body = EntryImportSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        upload = body.validated_data["file"]
        if upload.size > settings.WATCHLIST_IMPORT_MAX_BYTES:
            raise PayloadTooLarge(
                f"The file is larger than {settings.WATCHLIST_IMPORT_MAX_BYTES} bytes."
            )
        mode, dry_run = body.validated_data["mode"], body.validated_data["dry_run"]
        try:
            started = import_start(
                watchlist=watchlist,
                stream=upload.file,
                mode=mode,
                dry_run=dry_run,
                user=request.user,
            )
        except ImportBusy as busy:
            raise Conflict(str(busy)) from None
        except ImportRefused as refused:
            raise exceptions.ValidationError({refused.field: [refused.message]}) from None
        if isinstance(started, WatchlistImport):
            answer = WatchlistImportSerializer(started, context={"request": request}).data
            return Response(answer, status=202, headers={"Location": answer["url"]})
        return Response(started.as_dict())

    @extend_schema(responses={(200, "text/csv"): OpenApiTypes.STR})
    @action(detail=False, methods=["get"], url_path="export")
    def export_csv(self, request, watchlist_pk=None):
        """The entries as CSV, in the import's format."""
        watchlist = self.watchlist()
        response = StreamingHttpResponse(
            entries_export(watchlist=watchlist), content_type="text/csv; charset=utf-8"
        )
        response["Content-Disposition"] = f'attachment; filename="watchlist-{watchlist.pk}.csv"'
        return response


@extend_schema_view(
    **{
        name: extend_schema(parameters=[OpenApiParameter("watchlist_pk", OpenApiTypes.INT, "path")])
        for name in ("list", "retrieve")
    }
)
class WatchlistImportViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """A list's imports run by a worker (large uploads, source URL fetches), newest first:
    progress while they run, then the report of a synchronous import."""

    serializer_class = WatchlistImportSerializer
    ordering_fields = ("created_at",)
    ordering = ("-created_at",)

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return WatchlistImport.objects.none()
        return WatchlistImport.objects.filter(
            watchlist__in=selectors.watchlists_visible(user=self.request.user).values("pk"),
            watchlist_id=self.kwargs["watchlist_pk"],
        ).defer("content")


class HitViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Hits: reads that matched a list, newest first, with what matched and why."""

    serializer_class = HitSerializer
    filterset_class = HitFilter
    ordering_fields = ("captured_at", "created_at")
    ordering = ("-captured_at", "-id")

    def get_queryset(self):
        return selectors.hits_visible(user=self.request.user)

    @extend_schema(request=HitAcknowledgeSerializer, responses={200: HitSerializer})
    @action(detail=True, methods=["post"], permission_classes=[ChangePermission])
    def acknowledge(self, request, pk=None):
        """Close an open hit: accepted, rejected (with a reason's code) or no_action, with a
        note. Once: a second acknowledgement answers 409."""
        hit = self.get_object()
        body = HitAcknowledgeSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            hit = hit_acknowledge(hit=hit, user=request.user, **body.validated_data)
        except AlreadyAcknowledged:
            current = self.get_queryset().get(pk=hit.pk)
            by = current.acknowledged_by.username if current.acknowledged_by else "someone"
            raise Conflict(f"This hit was already acknowledged by {by}.") from None
        return Response(self.get_serializer(self.get_queryset().get(pk=hit.pk)).data)

    @extend_schema(responses={200: RejectReasonSerializer(many=True)})
    @action(
        detail=False,
        methods=["get"],
        url_path="reject-reasons",
        pagination_class=None,
        filter_backends=[],
    )
    def reject_reasons(self, request):
        """The active reasons a rejection may give (operators keep them in the admin)."""
        reasons = selectors.reject_reasons_active()
        return Response(RejectReasonSerializer(reasons, many=True).data)
