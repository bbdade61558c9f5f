"""CSV import and export of entries: the dry run's report is what the real run does, bad
lines are refused by number, nothing is overwritten unreported, and an export imports back."""

import pytest

from watchlists.models import WatchlistEntry

from .factories import WatchlistFactory, entry_add
from .test_api import _csv, entries_url

pytestmark = pytest.mark.django_db
HEADER = "plate,description,category,reference,make,colour,country,valid_from,valid_until\n"


def post(client, watchlist, text, **fields):
    return client.post(
        f"{entries_url(watchlist)}import/", {"file": _csv(text), **fields}, format="multipart"
    )


def stored(watchlist):
    return dict(
        WatchlistEntry.objects.filter(watchlist=watchlist).values_list("plate", "description")
    )


def test_a_dry_run_reports_what_the_real_run_then_does(operator_client):
    listed = WatchlistFactory(match_strategy="exact")
    entry_add(listed, "KEEP1", description="same")
    entry_add(listed, "CHANGE1", description="old words")
    entry_add(listed, "GONE1", description="not in the file")
    text = (
        HEADER
        + "keep1,same,other,,,,,,\n"
        + "change-1,new words,wanted,case 9,,,,,\n"
        + "new1,fresh,stolen_vehicle,,Volvo,red,NL,2026-01-01,2026-12-31\n"
        + "new2,bad,spaceship,,,,,,\n"  # unknown category
        + "new3,short\n"  # too few fields
        + ",no plate,other,,,,,,\n"
        + "new1,again,other,,,,,,\n"  # twice in the file
        + "new4,,other,,,,,2026-13-01,\n"  # a month that does not exist
    )
    before = stored(listed)
    dry = post(operator_client, listed, text, mode="replace", dry_run="true")
    assert dry.status_code == 200, dry.json()
    report = dry.json()
    assert stored(listed) == before  # a dry run writes nothing
    assert report["counts"] == {"created": 1, "updated": 1, "left": 1, "removed": 1, "refused": 5}
    assert [r["line"] for r in report["refused"]] == [5, 6, 7, 8, 9]
    assert "category" in report["refused"][0]["reason"]
    assert "line 4" in report["refused"][3]["reason"]
    assert "valid_from" in report["refused"][4]["reason"]
    [updated] = report["updated"]
    assert updated["plate"] == "CHANGE1"
    assert updated["old"]["description"] == "old words"
    assert updated["new"]["description"] == "new words"
    assert updated["new"]["category"] == "wanted"
    assert report["removed"] == [{"plate": "GONE1"}]

    real = post(operator_client, listed, text, mode="replace")
    assert real.status_code == 200
    assert {**real.json(), "dry_run": True} == report
    assert stored(listed) == {"KEEP1": "same", "CHANGE1": "new words", "NEW1": "fresh"}
    new = WatchlistEntry.objects.get(plate="NEW1")
    assert (new.make, new.colour, new.country) == ("Volvo", "red", "NL")
    assert new.valid_until.date().isoformat() == "2027-01-01"  # through the last day


def test_upsert_leaves_entries_the_file_lacks(operator_client):
    listed = WatchlistFactory(match_strategy="exact")
    entry_add(listed, "STAY1")
    report = post(operator_client, listed, "plate\nADD1\n").json()
    assert report["counts"]["created"] == 1 and report["counts"]["left"] == 1
    assert set(stored(listed)) == {"STAY1", "ADD1"}


def test_imported_entries_hit_at_once(operator_client, ingest):
    from watchlists.models import Hit

    listed = WatchlistFactory(match_strategy="ocr", edit_budget=1)
    post(operator_client, listed, "plate,category\nABC123,stolen_plate\n")
    ingest("A8CX23")
    assert Hit.objects.get().category == "stolen_plate"


def test_a_byte_order_mark_is_allowed(operator_client):
    listed = WatchlistFactory()
    response = post(operator_client, listed, "\ufeffplate,description\nBOM1,with a mark\n")
    assert response.status_code == 200 and stored(listed) == {"BOM1": "with a mark"}


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"description\nnothing\n",  # no plate column
        b"plate,colour,shoe size\nAB1,red,44\n",  # unknown column
        "plate\nAB1\n".encode("utf-16"),  # not UTF-8
        b"plate\nAB1\n\xff\xfe\n",  # not UTF-8 further down
    ],
)
def test_a_bad_file_is_a_400_naming_it(operator_client, content):
    listed = WatchlistFactory()
    response = post(operator_client, listed, content)
    assert response.status_code == 400, response.content
    assert "file" in response.json()["errors"]
    assert not WatchlistEntry.objects.exists()


def test_a_malformed_line_is_refused_not_a_500(operator_client):
    listed = WatchlistFactory()
    text = 'plate,description\nOK1,fine\n"unterminated,quote\nOK2,"x"y\n'
    response = post(operator_client, listed, text)
    assert response.status_code == 200, response.content
    assert response.json()["counts"]["refused"] >= 1


def test_an_unterminated_quote_does_not_swallow_the_following_lines(operator_client):
    listed = WatchlistFactory()
    text = 'plate,description\nOK1,fine\nBAD1,"no end\nOK2,eaten\nOK3,fine\n'
    report = post(operator_client, listed, text).json()
    assert report["counts"]["refused"] == 1, report
    [refused] = report["refused"]
    assert refused["line"] == 3 and "3-" in refused["reason"], refused
    assert set(stored(listed)) == {"OK1"}
    multi = 'plate,description\nOK1,fine\nTWO1,"two\nlines"\nOK2,fine\n'
    report = post(operator_client, listed, multi).json()
    assert [r["line"] for r in report["refused"]] == [3], report
    assert set(stored(listed)) == {"OK1", "OK2"}


def test_a_huge_upload_is_refused_before_reading(operator_client, settings):
    settings.WATCHLIST_IMPORT_MAX_BYTES = 1024
    listed = WatchlistFactory()
    response = post(operator_client, listed, "plate\n" + "AB123\n" * 400)
    assert response.status_code == 413
    assert not WatchlistEntry.objects.exists()


def test_a_list_with_a_budget_refuses_an_import_beyond_its_size(operator_client, monkeypatch):
    from watchlists import keys

    monkeypatch.setitem(keys.BUDGET_MAX_ENTRIES, 1, 2)
    listed = WatchlistFactory(match_strategy="ocr", edit_budget=1)
    response = post(operator_client, listed, "plate\nAAA111\nBBB222\nCCC333\n")
    assert response.status_code == 400 and "file" in response.json()["errors"]
    assert not WatchlistEntry.objects.exists()


def test_a_pattern_list_refuses_an_import_beyond_its_limit(operator_client, monkeypatch):
    from watchlists import keys

    monkeypatch.setattr(keys, "PATTERN_MAX_ENTRIES", 2)
    listed = WatchlistFactory(match_strategy="pattern")
    response = post(operator_client, listed, "plate\nAB*\nCD*\nEF*\n")
    assert response.status_code == 400 and "2" in response.json()["errors"]["file"][0]
    assert not WatchlistEntry.objects.exists()
    text = "plate\nAB*\n*?*\n"
    report = post(operator_client, listed, text).json()
    assert report["counts"]["refused"] == 1 and stored(listed) == {"AB*": ""}


def test_an_export_imports_back_unchanged(operator_client, viewer_client):
    listed = WatchlistFactory(match_strategy="exact")
    text = (
        HEADER
        + 'ab-1,"a, comma",wanted,R1,Fiat,blue,IT,2026-01-01T08:00:00+00:00,\n'
        + "ab-2,=HYPERLINK(1),other,-5,@x,,,,\n"
    )
    post(operator_client, listed, text)
    exported = viewer_client.get(f"{entries_url(listed)}export/")
    assert exported.status_code == 200 and exported["Content-Type"].startswith("text/csv")
    body = b"".join(exported.streaming_content).decode()
    assert body.startswith(HEADER.strip())
    assert "'=HYPERLINK(1)" in body and ",'-5,'@x," in body  # inert in a spreadsheet
    again = post(operator_client, listed, body).json()
    assert again["counts"] == {"created": 0, "updated": 0, "left": 2, "removed": 0, "refused": 0}
    assert WatchlistEntry.objects.get(plate="AB2").description == "=HYPERLINK(1)"
