"""Hits go after their list's hit_retention_days (empty: their camera's event retention), in
the nightly purge and `manage.py purge_events`, with a hit exactly at its cut-off kept."""

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from cameras.tests.factories import CameraFactory
from events.models import PurgeRun
from events.services.retention import events_purge
from watchlists.models import Hit

from .factories import WatchlistFactory

pytestmark = pytest.mark.django_db

NOW = timezone.now().replace(microsecond=0)


@pytest.fixture(autouse=True)
def _retention(settings):
    settings.EVENT_RETENTION_DAYS = 30
    settings.IMAGE_RETENTION_DAYS = 0


def hit_at(captured_at, *, watchlist, camera, plate="AB12CDE"):
    return Hit.objects.create(
        watchlist=watchlist,
        camera=camera,
        subject=f"{watchlist.pk}:{plate}:{captured_at.isoformat()}",
        plate=plate,
        captured_at=captured_at,
    )


def remaining():
    return set(Hit.objects.values_list("pk", flat=True))


def test_a_lists_own_retention_wins_with_the_cut_off_kept():
    camera = CameraFactory(retention_days=90)
    short = WatchlistFactory(hit_retention_days=7)
    at_cutoff = hit_at(NOW - timedelta(days=7), watchlist=short, camera=camera)
    older = hit_at(NOW - timedelta(days=7, seconds=1), watchlist=short, camera=camera)
    result = events_purge(now=NOW)
    assert remaining() == {at_cutoff.pk}
    assert not Hit.objects.filter(pk=older.pk).exists()
    assert result.steps == {"hits": 1}
    assert PurgeRun.objects.get().steps == {"hits": 1}


def test_without_its_own_a_hit_keeps_its_cameras_event_retention():
    own = CameraFactory(retention_days=10)
    default = CameraFactory()  # EVENT_RETENTION_DAYS: 30
    watchlist = WatchlistFactory()  # hit_retention_days empty
    kept_own = hit_at(NOW - timedelta(days=10), watchlist=watchlist, camera=own)
    gone_own = hit_at(NOW - timedelta(days=10, seconds=1), watchlist=watchlist, camera=own)
    kept_default = hit_at(NOW - timedelta(days=30), watchlist=watchlist, camera=default)
    gone_default = hit_at(NOW - timedelta(days=31), watchlist=watchlist, camera=default)
    long = WatchlistFactory(hit_retention_days=365)  # outlives the camera's reads
    kept_long = hit_at(NOW - timedelta(days=300), watchlist=long, camera=own)
    events_purge(now=NOW)
    assert remaining() == {kept_own.pk, kept_default.pk, kept_long.pk}
    assert not Hit.objects.filter(pk__in=[gone_own.pk, gone_default.pk]).exists()


def test_retention_zero_keeps_hits_for_ever(settings):
    settings.EVENT_RETENTION_DAYS = 0
    camera = CameraFactory()
    forever = WatchlistFactory(hit_retention_days=0)
    by_camera = WatchlistFactory()
    old = NOW - timedelta(days=3000)
    kept = {
        hit_at(old, watchlist=forever, camera=camera).pk,
        hit_at(old, watchlist=by_camera, camera=camera).pk,
    }
    assert events_purge(now=NOW).steps == {"hits": 0}
    assert remaining() == kept


def test_batches_delete_every_expired_hit():
    camera = CameraFactory()
    watchlist = WatchlistFactory(hit_retention_days=1)
    for day in range(5):
        hit_at(NOW - timedelta(days=2 + day), watchlist=watchlist, camera=camera)
    kept = hit_at(NOW, watchlist=watchlist, camera=camera)
    assert events_purge(now=NOW, batch_size=2).steps == {"hits": 5}
    assert remaining() == {kept.pk}


def test_the_command_counts_dry_runs_and_limits_to_a_camera():
    gate, depot = CameraFactory(slug="gate"), CameraFactory(slug="depot")
    watchlist = WatchlistFactory(hit_retention_days=7)
    hit_at(timezone.now() - timedelta(days=8), watchlist=watchlist, camera=gate)
    at_depot = hit_at(timezone.now() - timedelta(days=8), watchlist=watchlist, camera=depot)

    out = StringIO()
    call_command("purge_events", "--dry-run", stdout=out)
    assert "Would delete 2 hits past their retention." in out.getvalue()
    assert len(remaining()) == 2

    out = StringIO()
    call_command("purge_events", "--camera", "gate", stdout=out)
    assert "Deleted 1 hits past their retention." in out.getvalue()
    assert remaining() == {at_depot.pk}


def test_the_nightly_task_purges_hits(settings, django_capture_on_commit_callbacks):
    from anpr.celery import app

    app.loader.import_default_modules()
    task = app.tasks[settings.CELERY_BEAT_SCHEDULE["events-purge"]["task"]]
    watchlist = WatchlistFactory(hit_retention_days=7)
    hit_at(timezone.now() - timedelta(days=8), watchlist=watchlist, camera=CameraFactory())
    with django_capture_on_commit_callbacks(execute=True):
        answer = task.apply().get()
    assert answer["hits_deleted"] == 1 and not Hit.objects.exists()
    run = PurgeRun.objects.get()
    assert run.trigger == PurgeRun.Trigger.SCHEDULE and run.steps == {"hits": 1}


def test_a_retention_beyond_a_hundred_years_is_refused_and_the_longest_purges(operator_client):
    """A cut-off before year 1 cannot be computed: such a period would stop every nightly
    purge (events included), so the API refuses it naming the field."""
    camera = CameraFactory()
    watchlist = WatchlistFactory()
    url = f"/api/watchlists/{watchlist.pk}/"
    response = operator_client.patch(
        url, {"hit_retention_days": 1_000_000}, content_type="application/json"
    )
    assert response.status_code == 400, response.content
    assert "hit_retention_days" in response.json()["errors"]
    watchlist.refresh_from_db()
    assert watchlist.hit_retention_days is None

    response = operator_client.patch(
        url, {"hit_retention_days": 36_500}, content_type="application/json"
    )
    assert response.status_code == 200, response.content
    kept = hit_at(NOW - timedelta(days=36_500), watchlist=watchlist, camera=camera)
    gone = hit_at(NOW - timedelta(days=36_501), watchlist=watchlist, camera=camera)
    assert events_purge(now=NOW).steps == {"hits": 1}
    assert remaining() == {kept.pk} and gone.pk not in remaining()
