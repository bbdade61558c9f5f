"""What every API endpoint shares: error shape, permissions, pagination, the CRUD base.

Errors are always JSON of one shape:
    {"detail": "<sentence>", "code": "<machine code>", "errors": {"<field>": ["<message>"]}}
`errors` is present for validation errors and names each bad field.
"""

from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, models, transaction
from django.db.models import ProtectedError, RestrictedError
from django.http import Http404
from rest_framework import exceptions, serializers, status, viewsets
from rest_framework.views import exception_handler as drf_exception_handler

from core.timestamps import TimestampField

from .outage import outage_response


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "The request conflicts with the current state of the resource."
    default_code = "conflict"


def validation_errors_as_dict(error: DjangoValidationError) -> dict:
    """Django's ValidationError as {field: [messages]}; errors of the whole row go under
    `non_field_errors`, as DRF names them."""
    if hasattr(error, "error_dict"):
        return {
            ("non_field_errors" if field == "__all__" else field): list(messages)
            for field, messages in error.message_dict.items()
        }
    return {"non_field_errors": list(error.messages)}


def exception_handler(exc, context):
    outage = outage_response(exc)
    if outage is not None:
        return outage
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(validation_errors_as_dict(exc))
    elif isinstance(exc, (ProtectedError, RestrictedError)):
        related = (
            sorted({obj._meta.verbose_name_plural for obj in exc.protected_objects})
            if isinstance(exc, ProtectedError)
            else sorted({obj._meta.verbose_name_plural for obj in exc.restricted_objects})
        )
        exc = Conflict(f"Cannot delete: it is still referenced by {', '.join(related)}.")
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()

    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        errors = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
        response.data = {"detail": "Invalid input.", "code": "invalid", "errors": errors}
    else:
        detail = exc.detail if isinstance(exc, exceptions.APIException) else str(exc)
        code = getattr(detail, "code", None) or getattr(exc, "default_code", "error")
        response.data = {"detail": str(detail), "code": code}
    return response


class ModelCleanSerializer(serializers.ModelSerializer):
    """A ModelSerializer that runs the model's own validation (field validators and
    `clean()`), so the API refuses exactly what the admin form refuses, with the same message.
    """

    #: Fields that full_clean should not look at (set on the serializer, e.g. reverse relations)
    clean_exclude: tuple[str, ...] = ()
    #: Times held to what PostgreSQL stores (core/timestamps.py).
    serializer_field_mapping = {
        **serializers.ModelSerializer.serializer_field_mapping,
        models.DateTimeField: TimestampField,
    }

    def validate(self, attrs):
        attrs = super().validate(attrs)
        model = self.Meta.model
        concrete = {f.name for f in model._meta.concrete_fields}
        instance = model() if self.instance is None else _copy(self.instance)
        for name, value in attrs.items():
            if name in concrete:
                setattr(instance, name, value)
        writable = {name for name, field in self.fields.items() if not field.read_only}
        writable |= set(attrs)
        exclude = [name for name in concrete if name not in writable or name in self.clean_exclude]
        try:
            instance.full_clean(exclude=exclude)
        except DjangoValidationError as error:
            raise serializers.ValidationError(validation_errors_as_dict(error)) from None
        return attrs


#: Ids one many-related field of a request may name: each is looked up, a query an id.
RELATED_IDS_MAX = 1000


def related_ids_check(data, *, fields: tuple[str, ...]) -> None:
    """Refuse, naming the field, a list of ids longer than RELATED_IDS_MAX or naming one twice,
    before the lookups (10,000 ids kept a worker busy for a minute)."""
    if not isinstance(data, dict):
        return
    errors = {}
    for name in fields:
        value = data.getlist(name) if hasattr(data, "getlist") else data.get(name)
        if not isinstance(value, list):
            continue
        if len(value) > RELATED_IDS_MAX:
            errors[name] = [f"At most {RELATED_IDS_MAX} ids."]
        elif len({str(v) for v in value}) != len(value):
            errors[name] = ["Name each id once."]
    if errors:
        raise serializers.ValidationError(errors)


def _copy(instance):
    clone = type(instance)()
    clone.__dict__.update({k: v for k, v in instance.__dict__.items() if k != "_state"})
    clone._state.adding = False
    clone._state.db = instance._state.db
    return clone


def constraint_refusal(instance) -> exceptions.APIException:
    """What to answer when the database refused a row that passed validation (a concurrent
    write got there first): the validation error naming the field, now that the winner is
    visible, or else a 409. The database constraint is the last word, never a 500."""
    try:
        instance.validate_unique()
        instance.validate_constraints()
    except DjangoValidationError as error:
        return exceptions.ValidationError(validation_errors_as_dict(error))
    return Conflict("The row conflicts with a concurrent change; reload and try again.")


class ConfigViewSet(viewsets.ModelViewSet):
    """The base of every configuration CRUD endpoint: role permissions, JSON errors,
    filters, ordering and page-number pagination come from REST_FRAMEWORK settings."""

    ordering = ("id",)
    #: What may answer 409 (a delete still referenced, a write beaten by a concurrent one);
    #: the schema lists it for these (core.schema).
    conflict_actions = frozenset({"create", "update", "partial_update", "destroy"})

    def perform_create(self, serializer):
        self._save_refusing_conflicts(serializer)

    def perform_update(self, serializer):
        self._save_refusing_conflicts(serializer)

    def _save_refusing_conflicts(self, serializer):
        try:
            with transaction.atomic():
                serializer.save()
        except IntegrityError:
            instance = serializer.instance  # an update has the new values set on it
            if instance is None:
                model = serializer.Meta.model
                names = {f.name for f in model._meta.concrete_fields}
                data = serializer.validated_data
                instance = model(**{k: v for k, v in data.items() if k in names})
            raise constraint_refusal(instance) from None
