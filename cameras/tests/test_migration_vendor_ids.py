"""Reversing cameras 0005 makes vendor ids globally unique again: with repeats it must refuse
naming them, not fail half-way on an IntegrityError."""

import importlib

import pytest
from django.apps import apps

from cameras.tests.factories import CameraFactory

pytestmark = pytest.mark.django_db

migration = importlib.import_module(
    "cameras.migrations.0005_vendor_ids_per_device_adoption_refused_reads"
)


def test_the_reverse_refuses_naming_the_repeated_vendor_ids():
    CameraFactory(external_id="front")
    CameraFactory(external_id="front")
    CameraFactory(external_id="back")
    with pytest.raises(RuntimeError, match="front") as refused:
        migration.vendor_ids_unique_check(apps, None)
    assert "back" not in str(refused.value)


def test_the_reverse_passes_when_vendor_ids_are_unique():
    CameraFactory(external_id="front")
    CameraFactory(external_id="back")
    migration.vendor_ids_unique_check(apps, None)
