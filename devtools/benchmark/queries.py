"""`benchmark queries`: p50/p95 of what a viewer asks most (a filtered list, an OCR-tolerant
search, a 30-day statistics call computed and cached), of the dashboard's calls and of the search
page's calls (the next page of a search, a search with filters, a CSV export) against a running
server."""

import random
import statistics
import time
from datetime import UTC, datetime, timedelta

import requests
from django.core.management.base import CommandError, OutputWrapper

from cameras.services import user_token_issue
from devtools.benchmark.fill import BenchmarkSite
from events.models import PlateEvent


def queries_measure(
    *, base_url: str, site: BenchmarkSite, count: int, stdout: OutputWrapper
) -> dict[str, str]:
    """`count` calls of each kind (after five that warm the caches); summary lines by name."""
    results: dict[str, str] = {}
    token = user_token_issue(user=site.viewer, name="benchmark").key
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token}"
    rng = random.Random(7)
    plates = list(PlateEvent.objects.order_by().values_list("plate", flat=True)[:2000]) or [
        "AB12CDE"
    ]
    now = datetime.now(UTC)

    def filtered():
        camera = rng.choice(site.cameras)
        since = now - timedelta(days=rng.randint(1, 7))
        return "/api/events/", {
            "camera": camera.slug,
            "since": since.isoformat(),
            "min_confidence": "0.6",
        }

    def confused():
        return rng.choice(plates).replace("B", "8").replace("O", "0").replace("S", "5")

    def tolerant():
        return "/api/events/", {"q": confused()}

    def search_next_page():
        """The search page's Next: the page after the first of a search that has one (found
        with an untimed first call; page_size 10 so that most searches have a second)."""
        for _ in range(20):
            params = {"q": confused(), "page_size": "10"}
            first = session.get(base_url + "/api/events/", params=params, timeout=30).json()
            if first.get("next"):
                return first["next"].removeprefix(base_url), None
        return "/api/events/", params

    def search_filtered():
        """The search form with its filters: a plate, a week, a vehicle type, a confidence."""
        return "/api/events/", {
            "q": confused(),
            "since": (now - timedelta(days=7)).isoformat(),
            "vehicle_type": rng.choice(["car", "van", "truck"]),
            "min_confidence": "0.5",
            "page_size": "50",
        }

    def csv_export():
        """Export CSV of a bounded result: one camera's day (some 170 events at 1M)."""
        since = now - timedelta(days=rng.randint(1, 20))
        return "/api/events/", {
            "format": "csv",
            "camera": rng.choice(site.cameras).slug,
            "since": since.isoformat(),
            "until": (since + timedelta(days=1)).isoformat(),
        }

    # Windows ending 0, 1, 2, ... hours ago, in random order: each one no earlier call asked
    # for (computed, not served from the cache), and each nearly full of events (shifts spread
    # over ten times as many hours left most windows past the data).
    shifts = iter(rng.sample(range(count + 5), count + 5))

    def stats_cold():
        until = now - timedelta(hours=next(shifts))
        return "/api/events/stats/", {
            "since": (until - timedelta(days=30)).isoformat(),
            "until": until.isoformat(),
            "interval": "day",
        }

    def stats_cached():
        return "/api/events/stats/", {
            "since": (now - timedelta(days=30)).isoformat(),
            "until": now.isoformat(),
            "interval": "day",
        }

    def dashboard(hours: int, interval: str, by_camera: bool = False):
        """The dashboard's call (stacked by camera, with each camera's state) for a window of
        `hours`, ending a different hour each time (computed, not from the cache)."""
        shifts = iter(rng.sample(range(count + 5), count + 5))

        def make():
            until = now - timedelta(hours=next(shifts))
            params = {
                "since": (until - timedelta(hours=hours)).isoformat(),
                "until": until.isoformat(),
                "interval": interval,
                "stack": "camera",
            }
            if by_camera:
                params["camera"] = rng.choice(site.cameras).slug
            return "/api/events/stats/", params

        return make

    for name, make, target in (
        ("list filtered", filtered, 30),
        ("list q= (OCR-tolerant)", tolerant, 100),
        ("stats 30 days (computed)", stats_cold, 50),
        ("stats 30 days (cached)", stats_cached, 50),
        ("dashboard 24 h by hour", dashboard(24, "hour"), 300),
        ("dashboard 7 d by hour", dashboard(24 * 7, "hour"), 300),
        ("dashboard 30 d by day", dashboard(24 * 30, "day"), 300),
        ("dashboard 30 d, a camera", dashboard(24 * 30, "day", by_camera=True), 300),
        ("search: next page of q=", search_next_page, 300),
        ("search: q= with filters", search_filtered, 300),
        ("search: CSV of a camera-day", csv_export, 300),
    ):
        timings = []
        for n in range(count + 5):
            path, params = make()
            started = time.perf_counter()
            response = session.get(base_url + path, params=params, timeout=30)
            elapsed = (time.perf_counter() - started) * 1000
            if response.status_code != 200:
                raise CommandError(f"{name}: {response.status_code} {response.text[:200]}")
            if n >= 5:  # the first few warm the caches
                timings.append(elapsed)
        p50 = statistics.median(timings)
        p95 = statistics.quantiles(timings, n=20)[-1]
        stdout.write(f"== {name}: p50 {p50:.1f} ms  p95 {p95:.1f} ms  ({count} calls)")
        results[name] = f"p50 {p50:.1f} ms  p95 {p95:.1f} ms  (target p95 < {target} ms)"
    return results
