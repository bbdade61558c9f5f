"""Retention: events past their time go (a camera's own period wins), images go sooner while
rows stay, files never outlive or predecease their rows, open deliveries hold their events."""

import os
from datetime import timedelta
from io import StringIO

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.management import CommandError, call_command
from django.utils import timezone

from cameras.tests.factories import CameraFactory
from events.models import PlateEvent, PurgeRun
from events.services.retention import events_purge
from events.tests.factories import PlateEventFactory
from events.tests.images import image_bytes, media_files

pytestmark = pytest.mark.django_db

NOW = timezone.now().replace(microsecond=0)


@pytest.fixture(autouse=True)
def _retention(settings):
    settings.EVENT_RETENTION_DAYS = 30
    settings.IMAGE_RETENTION_DAYS = 0  # tests of images set it themselves


@pytest.fixture
def purge(django_capture_on_commit_callbacks):
    """events_purge at NOW, with the after-commit file deletions run (the test's own
    transaction never commits)."""

    def run(**options):
        with django_capture_on_commit_callbacks(execute=True):
            return events_purge(now=NOW, **options)

    return run


def event_at(captured_at, *, camera=None, images=False, **extra):
    event = PlateEventFactory(captured_at=captured_at, camera=camera or CameraFactory(), **extra)
    if images:
        for kind in ("plate", "frame"):
            name = f"events/{event.camera.slug}/{captured_at:%Y/%m/%d}/{event.pk}-{kind}.jpg"
            saved = default_storage.save(name, ContentFile(image_bytes()))
            setattr(event, f"{kind}_image", saved)
        event.save(update_fields=["plate_image", "frame_image"])
    return event


def remaining():
    return set(PlateEvent.objects.values_list("pk", flat=True))


def test_an_event_exactly_at_the_cut_off_stays_and_one_just_older_goes(purge):
    cutoff = NOW - timedelta(days=30)
    at_cutoff = event_at(cutoff)
    just_older = event_at(cutoff - timedelta(microseconds=1))
    recent = event_at(NOW - timedelta(days=1))
    result = purge()
    assert remaining() == {at_cutoff.pk, recent.pk}
    assert result.events_deleted == 1
    assert not PlateEvent.objects.filter(pk=just_older.pk).exists()


def test_a_cameras_own_retention_overrides_the_default(purge):
    short = CameraFactory(retention_days=7)
    long = CameraFactory(retention_days=365)
    default = CameraFactory()
    keep = {
        event_at(NOW - timedelta(days=5), camera=short).pk,
        event_at(NOW - timedelta(days=100), camera=long).pk,
        event_at(NOW - timedelta(days=10), camera=default).pk,
    }
    event_at(NOW - timedelta(days=10), camera=short)
    event_at(NOW - timedelta(days=400), camera=long)
    event_at(NOW - timedelta(days=40), camera=default)
    assert purge().events_deleted == 3
    assert remaining() == keep


def test_retention_zero_keeps_events_for_ever(purge, settings):
    settings.EVENT_RETENTION_DAYS = 0
    old = event_at(NOW - timedelta(days=3000))
    assert purge().events_deleted == 0
    assert remaining() == {old.pk}


def test_dry_run_reports_what_would_go_and_changes_nothing(purge, settings):
    settings.IMAGE_RETENTION_DAYS = 7
    event_at(NOW - timedelta(days=40), images=True)
    event_at(NOW - timedelta(days=10), images=True)
    before_rows = list(PlateEvent.objects.values_list("pk", "plate_image", "frame_image"))
    before_files = media_files(settings.MEDIA_ROOT)

    preview = purge(dry_run=True, orphans=True)
    assert (preview.events_deleted, preview.images_cleared) == (1, 1)
    assert sorted(PlateEvent.objects.values_list("pk", "plate_image", "frame_image")) == sorted(
        before_rows
    )
    assert media_files(settings.MEDIA_ROOT) == before_files
    assert not PurgeRun.objects.exists()

    done = purge()
    assert (done.events_deleted, done.images_cleared) == (1, 1)


def test_old_images_are_removed_while_their_rows_stay(purge, settings):
    settings.IMAGE_RETENTION_DAYS = 7
    old = event_at(NOW - timedelta(days=10), images=True)
    fresh = event_at(NOW - timedelta(days=2), images=True)
    old_files = [
        settings.MEDIA_ROOT / old.plate_image.name,
        settings.MEDIA_ROOT / old.frame_image.name,
    ]
    result = purge()
    assert result.images_cleared == 1 and result.files_deleted == 2
    old.refresh_from_db()
    fresh.refresh_from_db()
    assert old.plate == old.plate and old.plate_image.name == "" and old.frame_image.name == ""
    assert not any(path.exists() for path in old_files)
    assert fresh.plate_image.name and (settings.MEDIA_ROOT / fresh.plate_image.name).exists()


def _referenced_files(settings):
    names = set()
    for plate_image, frame_image in PlateEvent.objects.values_list("plate_image", "frame_image"):
        names.update(name for name in (plate_image, frame_image) if name)
    return {settings.MEDIA_ROOT / name for name in names}


def test_no_orphan_file_and_no_row_pointing_at_a_missing_file(purge, settings):
    settings.IMAGE_RETENTION_DAYS = 20
    for age in (1, 10, 25, 35, 60):
        event_at(NOW - timedelta(days=age), images=True)
    purge(batch_size=2)
    files = set(media_files(settings.MEDIA_ROOT))
    assert files == _referenced_files(settings)
    assert len(files) == 4  # two events keep their two images each
    assert PlateEvent.objects.count() == 3


def test_orphan_sweep_removes_old_unreferenced_files_only(purge, settings):
    kept = event_at(NOW - timedelta(days=1), images=True)
    stray_old = default_storage.save("events/gone/2020/01/01/x-plate.jpg", ContentFile(b"x"))
    stray_new = default_storage.save("events/gone/2020/01/02/y-plate.jpg", ContentFile(b"y"))
    two_hours_ago = (timezone.now() - timedelta(hours=2)).timestamp()
    os.utime(default_storage.path(stray_old), (two_hours_ago, two_hours_ago))
    for name in (kept.plate_image.name, kept.frame_image.name):
        os.utime(default_storage.path(name), (two_hours_ago, two_hours_ago))

    result = purge(orphans=True)
    assert result.orphan_files_deleted == 1
    assert not default_storage.exists(stray_old)
    assert default_storage.exists(stray_new)  # younger than the grace period: maybe in flight
    assert default_storage.exists(kept.plate_image.name)
    assert default_storage.exists(kept.frame_image.name)
    assert not os.path.exists(settings.MEDIA_ROOT / "events/gone/2020/01/01")


def _delivery(status, *events):
    from exporters.models import ExportDelivery, ExportDeliveryEvent, ExporterConfig

    exporter, _ = ExporterConfig.objects.get_or_create(
        name="hotlist", defaults={"url": "https://receiver.example.org/hook"}
    )
    delivery = ExportDelivery.objects.create(exporter=exporter, status=status, next_attempt_at=NOW)
    for event in events:
        ExportDeliveryEvent.objects.create(delivery=delivery, event=event)
    return delivery


def test_open_deliveries_hold_an_event_until_they_finish_then_it_goes_with_them(purge):
    from exporters.models import ExportDelivery

    old = NOW - timedelta(days=40)
    pending_event = event_at(old)
    delivering_event = event_at(old)
    delivered_event = event_at(old)
    pending = _delivery("pending", pending_event)
    delivering = _delivery("delivering", delivering_event)
    delivered = _delivery("delivered", delivered_event)

    result = purge()
    assert (result.events_deleted, result.events_held, result.deliveries_deleted) == (1, 2, 1)
    assert remaining() == {pending_event.pk, delivering_event.pk}
    assert not ExportDelivery.objects.filter(pk=delivered.pk).exists()

    ExportDelivery.objects.filter(pk=pending.pk).update(status="dead")
    ExportDelivery.objects.filter(pk=delivering.pk).update(status="delivered")
    second = purge()
    assert (second.events_deleted, second.events_held, second.deliveries_deleted) == (2, 0, 2)
    assert remaining() == set() and not ExportDelivery.objects.exists()


def test_a_batch_delivery_that_also_carried_a_kept_event_stays(purge):
    from exporters.models import ExportDelivery

    expired = event_at(NOW - timedelta(days=31))
    kept = event_at(NOW - timedelta(days=29))
    delivery = _delivery("delivered", expired, kept)
    assert purge().deliveries_deleted == 0
    assert remaining() == {kept.pk}
    assert list(ExportDelivery.objects.get(pk=delivery.pk).events.all()) == [kept]


def test_each_run_is_recorded_and_visible_in_admin(purge, admin_user, viewer, client):
    event_at(NOW - timedelta(days=45))
    purge()
    run = PurgeRun.objects.get()
    assert run.trigger == PurgeRun.Trigger.COMMAND
    assert run.events_deleted == 1 and run.finished_at and not run.error
    assert run.options["events"]["default"] == (NOW - timedelta(days=30)).isoformat()
    client.force_login(viewer)  # not staff: the console is not for them
    assert client.get("/admin/events/purgerun/").status_code == 302
    client.force_login(admin_user)
    page = client.get("/admin/events/purgerun/")
    assert page.status_code == 200 and b"Nightly schedule" in page.content
    assert client.get(f"/admin/events/purgerun/{run.pk}/change/").status_code == 200
    assert (
        client.post(f"/admin/events/purgerun/{run.pk}/delete/", {"post": "yes"}).status_code == 403
    )


def test_batches_make_progress_and_finish(purge):
    for days in range(31, 38):
        event_at(NOW - timedelta(days=days))
    calls = []
    result = purge(batch_size=3, progress=lambda stage, done, total: calls.append((done, total)))
    assert result.events_deleted == 7 and not PlateEvent.objects.exists()
    assert calls == [(0, 7), (3, 7), (6, 7), (7, 7)]


def test_command_options_camera_older_than_and_dry_run():
    gate = CameraFactory(slug="gate")
    depot = CameraFactory(slug="depot")
    event_at(timezone.now() - timedelta(days=10), camera=gate)
    depot_event = event_at(timezone.now() - timedelta(days=10), camera=depot)

    out = StringIO()
    call_command("purge_events", "--older-than", "7d", "--camera", "gate", "--dry-run", stdout=out)
    assert "Would delete 1 event(s)" in out.getvalue() and "Dry run" in out.getvalue()
    assert PlateEvent.objects.count() == 2

    out = StringIO()
    call_command("purge_events", "--older-than", "7d", "--camera", "gate", stdout=out)
    assert "Deleted 1 event(s)" in out.getvalue()
    assert remaining() == {depot_event.pk}
    assert PurgeRun.objects.get().options["camera"] == "gate"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--older-than", "soon"], "positive duration"),
        (["--older-than", "0d"], "positive duration"),
        (["--camera", "nope"], "no camera"),
        (["--batch-size", "0"], "at least 1"),
    ],
)
def test_command_refuses_bad_options(args, message):
    with pytest.raises(CommandError, match=message):
        call_command("purge_events", *args)


def test_beat_runs_the_same_purge_nightly(settings, django_capture_on_commit_callbacks):
    from anpr.celery import app

    entry = settings.CELERY_BEAT_SCHEDULE["events-purge"]
    app.loader.import_default_modules()  # what a worker does at start: autodiscover tasks
    task = app.tasks[entry["task"]]
    assert (entry["schedule"].hour, entry["schedule"].minute) == ({3}, {30})

    expired = event_at(timezone.now() - timedelta(days=31))
    kept = event_at(timezone.now() - timedelta(days=29))
    with django_capture_on_commit_callbacks(execute=True):
        task.apply().get()
    assert remaining() == {kept.pk}
    assert not PlateEvent.objects.filter(pk=expired.pk).exists()
    run = PurgeRun.objects.get()
    assert run.trigger == PurgeRun.Trigger.SCHEDULE and run.events_deleted == 1


@pytest.mark.parametrize(
    ("value", "expected"), [("15 2 * * *", "2|15"), ("0 */6 * * 1-5", "0,6,12,18|0")]
)
def test_the_purge_time_is_set_from_the_environment(tmp_path, value, expected):
    import subprocess
    import sys

    code = (
        "import django; django.setup(); from django.conf import settings as s; "
        "c = s.CELERY_BEAT_SCHEDULE['events-purge']['schedule']; "
        "print(','.join(map(str, sorted(c.hour))), ','.join(map(str, sorted(c.minute))), sep='|')"
    )
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
    env.update({"DATA_DIR": str(tmp_path), "PURGE_SCHEDULE": value})
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == expected
    env["PURGE_SCHEDULE"] = "at night"
    refused = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert refused.returncode != 0 and "PURGE_SCHEDULE" in refused.stderr


def test_statistics_rollups_survive_the_purge_so_charts_keep_their_history(purge):
    from events.models import EventStatistics
    from events.services.rollup import event_statistics_rollup

    camera = CameraFactory()
    for minutes in (0, 5, 10):
        event_at(NOW - timedelta(days=40, minutes=minutes), camera=camera)
    event_at(NOW - timedelta(days=1), camera=camera)
    event_statistics_rollup()
    before = sorted(EventStatistics.objects.values_list("bucket", "camera_id", "event_count"))
    assert sum(count for *_, count in before) == 4

    assert purge().events_deleted == 3
    event_at(NOW - timedelta(hours=1), camera=camera)  # new traffic, then the next rollup
    event_statistics_rollup()
    after = sorted(EventStatistics.objects.values_list("bucket", "camera_id", "event_count"))
    assert set(before) <= set(after)  # the purged hours still count their three events
    assert sum(count for *_, count in after) == 5


@pytest.mark.django_db(transaction=True)
def test_a_real_worker_runs_the_nightly_purge_from_the_broker(settings):
    """The beat entry's message, through the configured broker (Redis with REDIS_URL, else the
    filesystem broker), to a real worker (a thread of this process, so it sees the test
    database)."""
    import threading

    from celery.contrib.testing.worker import start_worker
    from celery.signals import task_postrun

    from anpr.celery import app
    from events.tasks import events_purge_scheduled

    expired = event_at(timezone.now() - timedelta(days=31), images=True)
    kept = event_at(timezone.now() - timedelta(days=29))
    files = media_files(settings.MEDIA_ROOT)
    assert len(files) == 2
    with app.connection_for_write() as connection:
        connection.default_channel.queue_purge(app.conf.task_default_queue)
    # Told by the worker when the task is done, rather than polling the database (SQLite's
    # shared in-memory database refuses a write while another thread reads).
    finished = threading.Event()

    def on_postrun(sender=None, **kwargs):
        if sender is not None and sender.name == events_purge_scheduled.name:
            finished.set()

    task_postrun.connect(on_postrun, weak=False)
    try:
        with start_worker(app, pool="threads", concurrency=1, perform_ping_check=False):
            app.send_task(settings.CELERY_BEAT_SCHEDULE["events-purge"]["task"])
            assert finished.wait(60), "the worker did not run the purge"
    finally:
        task_postrun.disconnect(on_postrun)
    assert events_purge_scheduled.name == settings.CELERY_BEAT_SCHEDULE["events-purge"]["task"]
    assert remaining() == {kept.pk}
    assert not PlateEvent.objects.filter(pk=expired.pk).exists()
    assert media_files(settings.MEDIA_ROOT) == []  # the files went after the commit
    run = PurgeRun.objects.get()
    assert run.trigger == PurgeRun.Trigger.SCHEDULE and not run.error
