"""The ingest service: what a read becomes, what is refused, and that a retry is never a
second row (also under concurrent retries on PostgreSQL)."""

import threading
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection, connections
from django.utils import timezone

from cameras.services import device_create
from cameras.tests.factories import CameraFactory, ZoneFactory
from conftest import require_service
from events.models import PlateEvent
from events.reads import ImageIn, ReadIn
from events.services import ingest, storage
from events.services.device_cameras import DeviceCameras
from events.services.ingest import plate_events_ingest
from events.services.results import ReadRejected
from events.services.update import plate_event_update

from .images import image_bytes, media_files


def _read(**overrides) -> ReadIn:
    values = {"plate": "ab-12 cde", "captured_at": timezone.now() - timedelta(seconds=5)}
    values.update(overrides)
    return ReadIn(**values)


def test_a_read_is_stored_normalized(device, camera):
    zone = ZoneFactory(camera=camera, name="Gate A")
    [result] = plate_events_ingest(
        device=device,
        reads=[
            _read(
                plate="8a-bc 123",
                captured_at="2026-01-02T03:04:05",
                confidence=0.87,
                vehicle_type="Pickup Truck",
                direction="approaching",
                zone="Gate A",
                metadata={"lane": 2},
            )
        ],
    )
    assert result.status == "created"
    event = PlateEvent.objects.get(pk=result.id)
    assert (event.plate_raw, event.plate, event.plate_key) == ("8a-bc 123", "8ABC123", "8A8C123")
    assert event.captured_at == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)  # naive means UTC
    assert (event.vehicle_type, event.vehicle_type_raw) == ("truck", "Pickup Truck")
    assert event.direction == "in"
    assert event.camera == camera and event.zone == zone and event.device == device
    assert event.metadata == {"lane": 2}
    assert event.idempotency_key.startswith("sha256:")


def test_a_retry_is_the_same_row(device):
    read = _read(event_id="evt-1")
    [first] = plate_events_ingest(device=device, reads=[read])
    [again] = plate_events_ingest(device=device, reads=[_read(event_id="evt-1", plate="ZZ1")])
    assert (first.status, again.status) == ("created", "duplicate")
    assert again.id == first.id
    assert PlateEvent.objects.count() == 1
    assert PlateEvent.objects.get().plate == "AB12CDE"  # the first read stays


def test_a_read_without_event_id_is_keyed_by_camera_time_and_plate(device):
    captured = timezone.now() - timedelta(minutes=3)
    [first] = plate_events_ingest(device=device, reads=[_read(captured_at=captured)])
    [again] = plate_events_ingest(device=device, reads=[_read(captured_at=captured.isoformat())])
    [other] = plate_events_ingest(device=device, reads=[_read(captured_at=captured, plate="X1")])
    assert again.status == "duplicate" and again.id == first.id
    assert other.status == "created"


def test_the_same_key_from_another_device_is_another_event(device, camera):
    other, _ = device_create(name="other-box", cameras=[camera])
    [a] = plate_events_ingest(device=device, reads=[_read(event_id="42")])
    [b] = plate_events_ingest(device=other, reads=[_read(event_id="42")])
    assert a.status == b.status == "created" and a.id != b.id


def test_a_batch_rejects_only_its_bad_items(device):
    results = plate_events_ingest(
        device=device,
        reads=[
            _read(event_id="a"),
            _read(event_id="b", confidence=7),
            _read(event_id="a"),  # the same read twice in one batch
            _read(event_id="c", captured_at="2100-01-01T00:00:00Z"),
            _read(event_id="d", plate=""),
        ],
    )
    assert [r.status for r in results] == [
        "created",
        "rejected",
        "duplicate",
        "rejected",
        "rejected",
    ]
    assert results[2].id == results[0].id
    assert "confidence" in results[1].errors
    assert "future" in results[3].errors["captured_at"][0]
    assert "plate" in results[4].errors
    assert PlateEvent.objects.count() == 1


def test_a_read_without_a_plate_box_stores_null_alone_or_in_a_batch(device):
    """One read or a batch, a missing plate box is SQL NULL (as the ORM stores None)."""
    plate_events_ingest(device=device, reads=[_read(event_id="one")])
    plate_events_ingest(device=device, reads=[_read(event_id="b1"), _read(event_id="b2")])
    assert PlateEvent.objects.filter(plate_box__isnull=True).count() == 3


def test_batches_in_one_transaction_store_each_read_once(device):
    """Two batches in one transaction (as here, inside the test's): the second sees the
    first's reads as duplicates and stores only its own."""
    first = plate_events_ingest(device=device, reads=[_read(event_id=k) for k in "abc"])
    second = plate_events_ingest(device=device, reads=[_read(event_id=k) for k in "cde"])
    assert [r.status for r in first] == ["created"] * 3
    assert [r.status for r in second] == ["duplicate", "created", "created"]
    assert second[0].id == first[2].id
    assert PlateEvent.objects.count() == 5
    assert sorted(PlateEvent.objects.values_list("idempotency_key", flat=True)) == list("abcde")
    if connection.vendor == "postgresql":  # the COPY staging table is left empty
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT count(*) FROM {storage.STAGE}")
            assert cursor.fetchone()[0] == 0


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"confidence": 7}, "confidence"),
        ({"confidence": "0.9"}, "confidence"),
        ({"confidence": True}, "confidence"),
        ({"captured_at": "2100-01-01T00:00:00Z"}, "captured_at"),
        ({"captured_at": "yesterday"}, "captured_at"),
        ({"captured_at": None}, "captured_at"),
        ({"plate": 1234}, "plate"),
        ({"plate": "---"}, "plate"),
        ({"direction": "sideways"}, "direction"),
        ({"heading": 400}, "heading"),
        ({"plate_box": [1, 2, 3]}, "plate_box"),
        ({"metadata": [1]}, "metadata"),
        ({"camera": "nowhere"}, "camera"),
        ({"zone": "No such zone"}, "zone"),
        ({"vehicle_make": "x" * 65}, "vehicle_make"),
        ({"event_id": "x" * 129}, "event_id"),
    ],
)
def test_bad_reads_name_the_field_and_store_nothing(device, overrides, field):
    [result] = plate_events_ingest(device=device, reads=[_read(**overrides)])
    assert result.status == "rejected"
    assert field in result.errors, result.errors
    assert PlateEvent.objects.count() == 0


def test_camera_is_matched_by_external_id_then_slug_among_the_devices_own(device, camera):
    second = CameraFactory(slug="north", external_id="vendor-7")
    device.cameras.add(second)
    foreign = CameraFactory(slug="foreign")

    [by_external] = plate_events_ingest(device=device, reads=[_read(camera="vendor-7")])
    [by_slug] = plate_events_ingest(device=device, reads=[_read(camera=camera.slug, plate="Q1")])
    [missing] = plate_events_ingest(device=device, reads=[_read(plate="Q2")])
    [other] = plate_events_ingest(device=device, reads=[_read(camera=foreign.slug)])

    assert PlateEvent.objects.get(pk=by_external.id).camera == second
    assert PlateEvent.objects.get(pk=by_slug.id).camera == camera
    assert "several cameras" in missing.errors["camera"][0]
    assert "foreign" in other.errors["camera"][0]


def test_a_zone_of_another_camera_is_refused(device, camera):
    elsewhere = ZoneFactory(name="Elsewhere")
    [result] = plate_events_ingest(device=device, reads=[_read(zone=elsewhere.pk)])
    assert "zone" in result.errors
    own = ZoneFactory(camera=camera)
    [ok] = plate_events_ingest(device=device, reads=[_read(zone=own.pk)])
    assert PlateEvent.objects.get(pk=ok.id).zone == own


def test_images_are_checked_by_content_and_stored_by_camera_and_date(device, camera, settings):
    captured = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)
    [result] = plate_events_ingest(
        device=device,
        reads=[
            _read(
                captured_at=captured,
                plate_image=ImageIn(image_bytes("PNG"), "crop.jpg"),
                frame_image=ImageIn(image_bytes("WEBP"), "frame"),
            )
        ],
    )
    event = PlateEvent.objects.get(pk=result.id)
    assert event.plate_image.name == f"events/{camera.slug}/2026/03/04/{event.id}-plate.png"
    assert event.frame_image.name.endswith("-frame.webp")
    assert event.plate_image.read() == image_bytes("PNG")
    assert len(media_files(settings.MEDIA_ROOT)) == 2


def test_a_text_file_posing_as_a_jpeg_is_left_out_with_a_warning(device, settings):
    """The plate read is worth more than its broken picture: stored, the picture left out."""
    [result] = plate_events_ingest(
        device=device,
        reads=[
            _read(
                plate_image=ImageIn(image_bytes("JPEG"), "ok.jpg"),
                frame_image=ImageIn(b"just some text, honestly a JPEG", "frame.jpg"),
            )
        ],
    )
    assert result.status == "created"
    [warning] = result.warnings
    assert warning.startswith("frame_image: not a JPEG, PNG or WebP image")
    event = PlateEvent.objects.get()
    assert event.plate_image and not event.frame_image
    assert len(media_files(settings.MEDIA_ROOT)) == 1


@pytest.mark.parametrize(
    "image, reason",
    [
        (ImageIn(b""), "empty"),
        (ImageIn(image_bytes("GIF"), "x.gif"), "GIF images are not accepted"),
        ("aGVsbG8=", "multipart files, not in the JSON"),
        (ImageIn(b"", error="best_plate.plate_crop_jpeg is not base64"), "plate_crop_jpeg"),
    ],
)
def test_every_unusable_picture_is_left_out_with_a_warning(device, image, reason):
    [result] = plate_events_ingest(device=device, reads=[_read(plate_image=image)])
    assert result.status == "created", result.errors
    assert reason in result.warnings[0] and "stored without it" in result.warnings[0]
    assert not PlateEvent.objects.get().plate_image


def test_image_limits_come_from_settings(device, settings):
    settings.EVENT_IMAGE_MAX_PIXELS = 100
    [big] = plate_events_ingest(
        device=device, reads=[_read(plate_image=ImageIn(image_bytes("PNG", (20, 20))))]
    )
    assert big.code == "too_large" and "pixels" in big.errors["plate_image"][0]
    settings.EVENT_IMAGE_MAX_BYTES = 1024
    [heavy] = plate_events_ingest(
        device=device, reads=[_read(plate_image=ImageIn(b"\xff\xd8" + b"0" * 2000))]
    )
    assert heavy.code == "too_large" and "bytes" in heavy.errors["plate_image"][0]
    assert PlateEvent.objects.count() == 0


def test_a_rolled_back_batch_leaves_no_row_and_no_file(device, settings, monkeypatch):
    """The disk fills up while the second event's image is written: the transaction rolls
    back, and the first event's image, already written, goes with it."""
    real_write = storage.image_write
    calls = []

    def disk_full_on_second(name, content, written):
        calls.append(name)
        if len(calls) > 1:
            raise OSError("No space left on device")
        real_write(name, content, written)

    monkeypatch.setattr(ingest, "image_write", disk_full_on_second)
    reads = [_read(event_id=str(n), plate_image=ImageIn(image_bytes())) for n in range(2)]
    with pytest.raises(OSError):
        plate_events_ingest(device=device, reads=reads)
    assert len(calls) == 2, "the first image had been written"
    assert PlateEvent.objects.count() == 0
    assert media_files(settings.MEDIA_ROOT) == []


def test_ingest_touches_last_seen(device, camera):
    plate_events_ingest(device=device, reads=[_read()])
    device.refresh_from_db()
    camera.refresh_from_db()
    assert device.last_seen_at is not None and camera.last_seen_at is not None


def test_update_in_place_keeps_the_id_and_replaces_the_image(
    device, settings, django_capture_on_commit_callbacks
):
    [result] = plate_events_ingest(
        device=device,
        reads=[_read(event_id="trk-1", confidence=0.5, plate_image=ImageIn(image_bytes()))],
    )
    event = PlateEvent.objects.get(pk=result.id)
    old_image = event.plate_image.name
    new_read = _read(plate="XY99ZZZ", confidence=0.95, plate_image=ImageIn(image_bytes("PNG")))
    with django_capture_on_commit_callbacks(execute=True):
        updated = plate_event_update(event=event, read=new_read)
    stored = PlateEvent.objects.get(pk=result.id)
    assert updated.id == stored.id == result.id
    assert (stored.plate, stored.plate_key, stored.confidence) == ("XY99ZZZ", "XY99222", 0.95)
    assert stored.idempotency_key == "trk-1" and stored.captured_at == event.captured_at
    assert stored.plate_image.name.endswith(".png") and stored.plate_image.name != old_image
    assert [p.name for p in media_files(settings.MEDIA_ROOT)] == [
        stored.plate_image.name.rsplit("/", 1)[-1]
    ]
    assert PlateEvent.objects.count() == 1


def test_update_refuses_bad_values(device):
    [result] = plate_events_ingest(device=device, reads=[_read()])
    event = PlateEvent.objects.get(pk=result.id)
    with pytest.raises(ReadRejected) as refused:
        plate_event_update(event=event, read=_read(confidence=42))
    assert "confidence" in refused.value.errors
    assert PlateEvent.objects.get(pk=result.id).confidence == event.confidence


def test_on_postgresql_the_single_read_insert_is_a_prepared_statement_of_the_connection(device):
    # Django turns psycopg's prepared statements off; the settings let this one through.
    if connection.vendor != "postgresql":
        require_service("PostgreSQL", "prepared statements are PostgreSQL's")

    def prepared_inserts():
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE %s",
                ['INSERT INTO "events_plateevent"%'],
            )
            return cursor.fetchone()[0]

    before = prepared_inserts()
    for number in range(3):
        [result] = plate_events_ingest(device=device, reads=[_read(event_id=f"p-{number}")])
        assert result.status == "created"
    assert (before, prepared_inserts()) in ((0, 1), (1, 1))
    assert PlateEvent.objects.filter(device=device).count() == 3


@pytest.mark.django_db(transaction=True)
def test_eight_concurrent_retries_store_one_row(device_with_key):
    if connection.vendor != "postgresql":
        require_service("PostgreSQL", "concurrent retries are tested on PostgreSQL")
    device, _ = device_with_key
    captured = timezone.now() - timedelta(seconds=30)
    barrier = threading.Barrier(8)
    results, failures = [], []

    def post():
        try:
            barrier.wait(timeout=10)
            results.extend(
                plate_events_ingest(
                    device=device, reads=[_read(event_id="same", captured_at=captured)]
                )
            )
        except Exception as error:  # noqa: BLE001 - reported below
            failures.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=post) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures
    assert sorted(r.status for r in results) == ["created"] + ["duplicate"] * 7
    assert len({r.id for r in results}) == 1
    assert PlateEvent.objects.filter(device=device).count() == 1


def test_cameras_are_loaded_whole_and_typed_as_the_orm_loads_them(device, camera):
    """The ingest looks cameras up with plain SQL (hot path); each field must come back as the
    ORM would give it (datetimes, JSON), since the events hand their camera on."""
    from cameras.models import Camera

    Camera.objects.filter(pk=camera.pk).update(
        last_seen_at=timezone.now() - timedelta(hours=1), metadata={"pole": 7}, external_id="v-1"
    )
    cameras = DeviceCameras.for_reads(device, [_read(camera="v-1"), _read(camera="")])
    expected = Camera.objects.get(pk=camera.pk)
    for loaded in (cameras.resolve("v-1"), cameras.resolve("")):
        for field in Camera._meta.concrete_fields:
            assert getattr(loaded, field.attname) == getattr(expected, field.attname), field.name
