"""Factories of the events app (other apps' tests use PlateEventFactory too)."""

import uuid
from datetime import timedelta

import factory
from django.utils import timezone

from cameras.tests.factories import CameraFactory
from events.models import PlateEvent
from events.reads import plate_confusion_key, plate_normalize


class PlateEventFactory(factory.django.DjangoModelFactory):
    """A stored read; `plate` sets plate_raw, and plate and plate_key follow from it."""

    class Meta:
        model = PlateEvent

    camera = factory.SubFactory(CameraFactory)
    idempotency_key = factory.LazyFunction(lambda: uuid.uuid4().hex)
    plate_raw = factory.Sequence(lambda n: f"AB{n % 100:02d}CDE")
    plate = factory.LazyAttribute(lambda o: plate_normalize(o.plate_raw))
    plate_key = factory.LazyAttribute(lambda o: plate_confusion_key(o.plate))
    confidence = 0.9
    captured_at = factory.LazyFunction(lambda: timezone.now() - timedelta(minutes=1))
    received_at = factory.LazyFunction(timezone.now)
    updated_at = factory.LazyAttribute(lambda o: o.received_at)
    vehicle_type = PlateEvent.VehicleType.CAR
    vehicle_type_raw = "car"
