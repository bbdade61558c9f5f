"""manage.py demo_data: a small city's worth of cameras and a week of traffic, so a newcomer
sees a populated map, charts and search at once (`manage.py serve` loads it into an empty
database).

Amsterdam: eight cameras at real places with entry/exit/parking zones, two edge devices (their
keys printed once), the AI models they run, sensor settings per camera, and a few thousand
reads of Dutch and foreign plates over the past days, with rush hours and regular commuters.
Refuses to load twice; the events go in with bulk_create (seconds, not minutes).
"""

import random
import uuid
from datetime import UTC, timedelta

from django.core.management import call_command, get_commands
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from anpr.demo_content import plate_crop_jpeg, scene_frame_jpeg, vehicle_pick
from cameras.models import Camera, EdgeDevice, ModelConfig, SensorSettings, Zone
from cameras.services import device_create
from core.ids import time_ordered_uuid
from events.models import PlateEvent, event_image_name
from events.reads import OCR_CONFUSION_GROUPS, plate_confusion_key, plate_normalize
from events.services.storage import image_write, images_delete
from watchlists.models import RejectReason, Watchlist, WatchlistEntry
from watchlists.services.entries import entry_save, watchlist_delete
from watchlists.services.matching import hits_record

DEMO_TAG = {"demo": True}
DEMO_WATCHLIST = "Stolen vehicles (demo)"

# slug, name, latitude, longitude, heading, address, zone kinds, device
CAMERAS = (
    ("cs-prins-hendrikkade", "Centraal Station, Prins Hendrikkade", 52.37805, 4.90032, 90,
     "Prins Hendrikkade, 1012 Amsterdam", ("entry", "exit"), "north"),
    ("damrak", "Damrak at the Beurs", 52.37509, 4.89616, 180,
     "Damrak 1, 1012 Amsterdam", ("restricted",), "north"),
    ("ij-tunnel-north", "IJtunnel north portal", 52.38404, 4.91186, 200,
     "IJtunnel, 1021 Amsterdam", ("entry", "exit"), "north"),
    ("haarlemmerweg", "Haarlemmerweg at Westerpark", 52.38632, 4.87353, 270,
     "Haarlemmerweg, 1014 Amsterdam", ("detection",), "north"),
    ("museumplein", "Van Baerlestraat at Museumplein", 52.35805, 4.88093, 0,
     "Van Baerlestraat, 1071 Amsterdam", ("parking", "detection"), "south"),
    ("rai-europaplein", "RAI, Europaplein", 52.34055, 4.88879, 45,
     "Europaplein, 1078 Amsterdam", ("parking", "entry"), "south"),
    ("zuidas-boelelaan", "Zuidas, De Boelelaan", 52.33401, 4.87301, 90,
     "De Boelelaan, 1083 Amsterdam", ("entry", "exit"), "south"),
    ("amstel-station", "Amstel Station, Julianaplein", 52.34676, 4.91781, 315,
     "Julianaplein, 1097 Amsterdam", ("detection",), "south"),
)  # fmt: skip

# Relative traffic per hour of day (morning and evening peaks).
HOURLY = (1, 1, 1, 1, 2, 4, 9, 15, 16, 11, 9, 9, 10, 9, 9, 11, 15, 16, 12, 8, 6, 4, 3, 2)
#: Reads that get a drawn plate crop and frame: the most recent ones (what the map's list and
#: the search show first). Drawing and writing them costs about 3 ms a read.
IMAGES_DEFAULT = 200


def square(lat: float, lon: float, d_lat: float, d_lon: float, size: float) -> dict:
    lon0, lat0 = lon + d_lon, lat + d_lat
    ring = [
        [lon0, lat0],
        [lon0 + size * 1.6, lat0],
        [lon0 + size * 1.6, lat0 + size],
        [lon0, lat0 + size],
        [lon0, lat0],
    ]
    return {"type": "Polygon", "coordinates": [[[round(x, 6), round(y, 6)] for x, y in ring]]}


def _confusable(plate: str) -> str:
    """The plate with its first OCR-confusable character swapped for another of its group."""
    for index, char in enumerate(plate):
        for group in OCR_CONFUSION_GROUPS:
            if char in group:
                other = group[1] if char == group[0] else group[0]
                return plate[:index] + other + plate[index + 1 :]
    return plate


class Command(BaseCommand):
    help = (
        "Load demo data: Amsterdam cameras with zones, two edge devices (keys printed once), "
        "model configs, sensor settings and a week of plate reads. Refuses to load twice."
    )

    def add_arguments(self, parser):
        parser.add_argument("--events", type=int, default=4000, help="Reads to create.")
        parser.add_argument("--days", type=int, default=7, help="Spread over this many days.")
        parser.add_argument("--seed", type=int, default=2026, help="Random seed (repeatable).")
        parser.add_argument(
            "--images",
            type=int,
            default=IMAGES_DEFAULT,
            help=f"The most recent this many reads get a plate crop and a frame "
            f"(default {IMAGES_DEFAULT}).",
        )
        parser.add_argument(
            "--live",
            action="store_true",
            help="Then keep the demo devices posting reads through the API of a running "
            "server (--url), until Ctrl-C.",
        )
        parser.add_argument(
            "--url", default="http://127.0.0.1:8000", help="The server --live posts to."
        )

    def handle(self, *args, events, days, seed, images, live, url, **options):
        if live:
            return self._live(url)
        if events < 0 or days < 1 or images < 0:
            raise CommandError("--events and --images must be 0 or more, --days at least 1.")
        slugs = [row[0] for row in CAMERAS]
        if Camera.objects.filter(slug__in=slugs).exists():
            raise CommandError("The demo data is loaded already (its cameras exist).")
        rng = random.Random(seed)
        written: list[str] = []  # image files, removed again if the transaction fails
        try:
            with transaction.atomic():
                cameras, zones = self._cameras_and_zones()
                devices, keys = self._devices(cameras)
                self._models_and_sensors(cameras, zones)
                created = self._events(rng, cameras, zones, devices, events=events, days=days)
                self._images(created, seed=seed, count=images, written=written)
                PlateEvent.objects.bulk_create(created, batch_size=1000)
                self._last_seen(created)
                hits = self._watchlist(created)
        except BaseException:
            images_delete(written)
            raise
        self.demo_keys = [(device.name, key) for device, key in keys]  # serve prints them last
        if "rollup_stats" in get_commands() and created:
            call_command("rollup_stats", verbosity=0)  # charts read the hourly rollup
        self.stdout.write(
            self.style.SUCCESS(
                f"Loaded {len(cameras)} cameras, {len(zones)} zones, {len(devices)} devices "
                f"and {len(created)} events over {days} days "
                f"({min(images, len(created))} with images), and {len(hits)} watchlist hits."
            )
        )
        for device, key in keys:
            self.stdout.write(f"Device {device.name} key (shown once): {key}")

    def _cameras_and_zones(self):
        cameras, zones = {}, []
        for slug, name, lat, lon, heading, address, kinds, _ in CAMERAS:
            camera = Camera(
                slug=slug,
                name=name,
                latitude=lat,
                longitude=lon,
                heading=heading,
                address=address,
                resolution="1920x1080",
                fps=25,
                stream_url=f"rtsp://10.20.0.{len(cameras) + 11}:554/stream1",
                metadata=DEMO_TAG,
            )
            camera.full_clean()
            camera.save()
            cameras[slug] = camera
            for index, kind in enumerate(kinds):
                zone = Zone(
                    camera=camera,
                    name={"entry": "Inbound lane", "exit": "Outbound lane"}.get(
                        kind, kind.capitalize()
                    ),
                    kind=kind,
                    geometry=square(lat, lon, 0.0001, 0.0002 + index * 0.0005, 0.0003),
                    roi={
                        "type": "Polygon",
                        "coordinates": [
                            [
                                [0.1 + index * 0.45, 0.45],
                                [0.5 + index * 0.45, 0.45],
                                [0.5 + index * 0.45, 0.95],
                                [0.1 + index * 0.45, 0.95],
                                [0.1 + index * 0.45, 0.45],
                            ]
                        ],
                    },  # fmt: skip
                )
                zone.full_clean()
                zone.save()
                zones.append(zone)
        return cameras, zones

    def _devices(self, cameras):
        devices, keys = {}, []
        for group in ("north", "south"):
            name = f"demo-edge-{group}"
            if EdgeDevice.objects.filter(name=name).exists():
                raise CommandError(f"A device named {name} exists already.")
            mine = [cameras[row[0]] for row in CAMERAS if row[7] == group]
            device, issued = device_create(
                name=name, cameras=mine, notes="Demo edge box (manage.py demo_data)."
            )
            devices[group] = device
            keys.append((device, issued.key))
        return devices, keys

    def _models_and_sensors(self, cameras, zones):
        ocr, _ = ModelConfig.objects.get_or_create(
            name="demo-plate-ocr",
            version="2.3.1",
            defaults={
                "task": ModelConfig.Task.OCR,
                "framework": "onnx",
                "is_active": not ModelConfig.objects.filter(
                    name="demo-plate-ocr", is_active=True
                ).exists(),
                "parameters": {"min_char_confidence": 0.6, "max_plate_length": 10},
                "release_notes": "Demo model: European plates, night-time tuned.",
            },
        )
        ModelConfig.objects.get_or_create(
            name="demo-plate-detector",
            version="1.8.0",
            defaults={"task": ModelConfig.Task.DETECTOR, "framework": "tflite"},
        )
        first_zone = {}
        for zone in zones:
            first_zone.setdefault(zone.camera_id, zone)
        SensorSettings.objects.bulk_create(
            SensorSettings(
                camera=camera,
                zone=first_zone.get(camera.pk),
                model_config=ocr,
                confidence_threshold=0.72,
                capture_interval_ms=150 if camera.slug.startswith(("ij-", "zuidas")) else 250,
                heartbeat_interval_s=60,
                image_upload_policy=SensorSettings.ImagePolicy.PLATE_CROP,
            )
            for camera in cameras.values()
        )

    def _events(self, rng, cameras, zones, devices, *, events: int, days: int) -> list:
        device_of = {row[0]: devices[row[7]] for row in CAMERAS}
        zones_of = {}
        for zone in zones:
            zones_of.setdefault(zone.camera_id, []).append(zone)
        # Regular vehicles (commuters, delivery vans) come back; the rest pass once.
        fleet = []
        for _ in range(max(1, events // 6)):
            fleet.append(vehicle_pick(rng, foreign_share=0.08))
        now = timezone.now()
        hours = [h for h in range(days * 24)]
        weights = [HOURLY[(now - timedelta(hours=h)).hour] for h in hours]
        camera_list = list(cameras.values())
        rows = []
        for _ in range(events):
            plate, country, kind, make, model, color = (
                rng.choice(fleet) if rng.random() < 0.7 else vehicle_pick(rng, foreign_share=0.15)
            )
            hours_ago = rng.choices(hours, weights)[0]
            captured = now - timedelta(hours=hours_ago, seconds=rng.randint(0, 3599))
            camera = rng.choice(camera_list)
            zone = rng.choice(zones_of[camera.pk])
            confidence = round(min(0.995, rng.gauss(0.9, 0.05)), 3)
            normalized = plate_normalize(plate)
            candidates = []
            if confidence < 0.85:
                swapped = normalized.replace("8", "B", 1).replace("0", "D", 1)
                candidates = [{"plate": swapped, "confidence": round(confidence - 0.1, 3)}]
            device = device_of[camera.slug]
            rows.append(
                PlateEvent(
                    id=time_ordered_uuid(),
                    device=device,
                    idempotency_key=f"demo-{uuid.uuid4().hex}",
                    camera=camera,
                    zone=zone,
                    plate_raw=plate,
                    plate=normalized,
                    plate_key=plate_confusion_key(normalized),
                    candidates=candidates,
                    confidence=max(0.5, confidence),
                    country=country,
                    region="NH" if country == "NL" else "",
                    captured_at=captured,
                    received_at=captured + timedelta(milliseconds=rng.randint(80, 900)),
                    updated_at=captured + timedelta(milliseconds=rng.randint(80, 900)),
                    vehicle_type=kind,
                    vehicle_type_raw=kind,
                    vehicle_type_confidence=round(rng.uniform(0.7, 0.99), 2),
                    vehicle_color=color,
                    vehicle_color_confidence=round(rng.uniform(0.6, 0.95), 2),
                    vehicle_make=make,
                    vehicle_make_confidence=round(rng.uniform(0.6, 0.95), 2),
                    vehicle_model=model,
                    vehicle_model_confidence=round(rng.uniform(0.5, 0.9), 2),
                    direction=(
                        "in"
                        if zone.kind == "entry"
                        else "out"
                        if zone.kind == "exit"
                        else "unknown"
                    ),
                    heading=float((camera.heading + rng.choice((0, 180))) % 360),
                    speed_kmh=round(max(3.0, rng.gauss(32 if kind != "truck" else 26, 9)), 1),
                    source=PlateEvent.Source.NATIVE,
                    metadata=DEMO_TAG,
                )
            )
        return rows

    def _watchlist(self, events: list) -> list:
        """A stolen-vehicles list with three plates of the latest reads (one entered with an
        OCR-confusable character, so its hit shows a substitution) and the operators' reject
        reasons, so the hits page has work. Matched as ingest matches; bulk_create does not."""
        recent = sorted(events, key=lambda event: event.captured_at, reverse=True)[:IMAGES_DEFAULT]
        plates = list(dict.fromkeys(event.plate for event in recent))[:3]
        if not plates:
            return []
        for earlier in Watchlist.objects.filter(name=DEMO_WATCHLIST):  # an earlier demo's
            watchlist_delete(watchlist=earlier)
        stolen = Watchlist.objects.create(name=DEMO_WATCHLIST, colour="#d32f2f")
        details = (
            ("stolen_vehicle", "Taken from a driveway in Diemen", "PV-2026-0412"),
            ("wanted", "Driver wanted for questioning", "PV-2026-0977"),
            ("stolen_plate", "Plates reported stolen", "PV-2026-1130"),
        )
        for index, plate in enumerate(plates):
            category, description, reference = details[index]
            listed = _confusable(plate) if index == 0 else plate
            entry_save(
                entry=WatchlistEntry(
                    watchlist=stolen,
                    plate=listed,
                    plate_raw=listed,
                    category=category,
                    description=description,
                    reference=reference,
                )
            )
        for code, label in (
            ("misread", "Misread plate"),
            ("recovered", "Vehicle already recovered"),
            ("other-vehicle", "Another vehicle (cloned plate)"),
        ):
            RejectReason.objects.get_or_create(code=code, defaults={"label": label})
        return hits_record(events=[event for event in recent if event.plate in plates])

    def _last_seen(self, events: list) -> None:
        """Cameras and devices were last heard from at their latest read, as ingest records
        it: the map shows a camera online if that was within its offline limit."""
        latest = {}
        for event in events:
            for row in (event.camera, event.device):
                key = (type(row), row.pk)
                latest[key] = max(latest.get(key, event.received_at), event.received_at)
        for (model, pk), moment in latest.items():
            model.objects.filter(pk=pk).update(last_seen_at=moment)

    def _images(self, events: list, *, seed: int, count: int, written: list[str]) -> None:
        """A plate crop and a frame for the `count` most recent reads, written where ingest
        writes a device's images (same names, same storage)."""
        recent = sorted(events, key=lambda event: event.captured_at, reverse=True)[:count]
        for index, event in enumerate(recent):
            for kind, content in (
                ("plate", plate_crop_jpeg(event.plate_raw, country=event.country)),
                (
                    "frame",
                    scene_frame_jpeg(
                        event.plate_raw,
                        country=event.country,
                        vehicle_type=event.vehicle_type,
                        color=event.vehicle_color,
                        seed=seed * 100_003 + index,
                    ),
                ),
            ):
                name = event_image_name(
                    camera_slug=event.camera.slug,
                    captured_at=event.captured_at.astimezone(UTC),
                    event_id=event.id,
                    kind=kind,
                    extension="jpg",
                )
                image_write(name, content, written)
                setattr(event, f"{kind}_image", name)

    def _live(self, url: str) -> None:
        """Post as the demo devices until Ctrl-C, with keys issued now (stored keys are
        hashed) and revoked again at the end."""
        from anpr.demo_live import demo_keys_issue, demo_keys_revoke, demo_post_forever

        issued = demo_keys_issue()
        if not issued:
            raise CommandError("No demo devices: load the demo first (manage.py demo_data).")
        self.stdout.write(f"Demo devices posting reads to {url} (Ctrl-C stops).")
        try:
            demo_post_forever(url=url, keys={name: key for name, key, _ in issued})
        except KeyboardInterrupt:
            pass
        finally:
            demo_keys_revoke(records=[record for _, _, record in issued])
        self.stdout.write("Demo devices stopped; their keys for this run are revoked.")
