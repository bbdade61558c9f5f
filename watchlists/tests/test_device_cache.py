"""The lists watching a camera are kept with the device cache: a list enabled, or its scope
changed, by another process reaches the very next read (migration 0002's triggers)."""

import pytest

from cameras.tests.factories import CameraFactory
from cameras.tests.test_device_directory import cached, delivered, elsewhere, post  # noqa: F401
from watchlists.models import Hit

from .factories import WatchlistFactory, entry_add

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_list_enabled_or_rescoped_elsewhere_matches_the_next_read(
    cached,  # noqa: F811
    device_client,
    camera,
    elsewhere,  # noqa: F811
):
    listed = WatchlistFactory(match_strategy="exact", enabled=False)
    entry_add(listed, "CACHE1")
    assert post(device_client, camera.slug, plate="CACHE1").status_code == 201  # cached now
    assert not Hit.objects.exists()
    elsewhere.execute("UPDATE watchlists_watchlist SET enabled = true WHERE id = %s", [listed.pk])
    delivered()
    assert post(device_client, camera.slug, plate="CACHE1").status_code == 201
    assert Hit.objects.count() == 1
    other = CameraFactory()
    elsewhere.execute(
        "INSERT INTO watchlists_watchlist_cameras (watchlist_id, camera_id) VALUES (%s, %s)",
        [listed.pk, other.pk],
    )
    delivered()
    Hit.objects.all().delete()
    assert post(device_client, camera.slug, plate="CACHE1").status_code == 201
    assert not Hit.objects.exists()  # the list now watches another camera only
