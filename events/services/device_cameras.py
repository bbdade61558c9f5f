"""The cameras and zones a device's reads may name (a device posts only for its cameras)."""

from cameras.models import Camera, EdgeDevice, Zone
from cameras.selectors import cameras_of_device, device_cameras_cached
from cameras.services import AdoptionRefused, camera_adopt
from core.ids import ascii_integer
from events.after_store import after_store_work_sql
from events.reads import ReadIn

from .results import ReadRejected

_EXTERNAL_ID_MAX = Camera._meta.get_field("external_id").max_length


class CameraUnknown(ReadRejected):
    """A camera id the device has no camera for; `adoptable` if the device adopts cameras
    (read_validate adopts it once the rest of the read has passed)."""

    def __init__(self, ref: str, *, adoptable: bool):
        message = f"No camera '{ref[:64]}' among this device's cameras."
        if adoptable and len(ref) > _EXTERNAL_ID_MAX:
            message = (
                f"No camera '{ref[:64]}…': camera ids have at most {_EXTERNAL_ID_MAX} characters."
            )
            adoptable = False
        elif adoptable and (not ref.strip() or not ref.isprintable()):
            message = f"No camera {ref[:64]!r}: a camera id to adopt must be printable text."
            adoptable = False
        super().__init__({"camera": [message]})
        self.ref = ref
        self.adoptable = adoptable


class DeviceCameras:
    """The cameras of a device that a call's reads name (one query for all of them, not the
    device's whole list), each with the answers of the after-store steps' `work_sql`, and
    their zones (looked up only when a read names one). With the
    device cache (cameras/directory.py) one is built from all the device's cameras and kept
    with the device until something changes, zones included."""

    #: Cameras listed when a read without a camera is ambiguous.
    LISTED = 5

    def __init__(
        self,
        cameras: list[Camera],
        *,
        defaults: list[Camera] | None = None,
        device: EdgeDevice | None = None,
    ):
        self.cameras = cameras
        self.device = device  # the device whose unknown camera ids may be adopted
        self.by_external_id = {c.external_id: c for c in cameras if c.external_id}
        self.by_slug = {c.slug: c for c in cameras}
        self.defaults = defaults  # the device's first cameras, when a read names none
        self._zones: dict[int, list[Zone]] | None = None

    @classmethod
    def for_reads(cls, device: EdgeDevice, reads: list[ReadIn]) -> "DeviceCameras":
        cached = device_cameras_cached(
            device=device,
            build=lambda all_: cls(all_, defaults=all_, device=device),
            extras=after_store_work_sql(),
        )
        if cached is not None:
            return cached
        named = {
            str(read.camera)
            for read in reads
            if isinstance(read.camera, str | int) and not isinstance(read.camera, bool)
        }
        # A name no camera can have is not looked up (PostgreSQL refuses a NUL in a query):
        # resolve() answers "no camera …" for it.
        named = {name for name in named if name and "\x00" not in name}
        extras = after_store_work_sql()
        cameras = (
            cameras_of_device(device=device, named=sorted(named), extras=extras) if named else []
        )
        defaults = None
        if any(read.camera is None or read.camera == "" for read in reads):
            defaults = cameras_of_device(device=device, limit=cls.LISTED + 1, extras=extras)
        return cls(cameras, defaults=defaults, device=device)

    def resolve(self, ref) -> Camera:
        """The vendor's camera id matched against external_id, then slug; none given means
        the device's only camera. An id the device has no camera for raises CameraUnknown."""
        if ref is None or ref == "":
            defaults = self.defaults if self.defaults is not None else self.cameras
            if len(defaults) == 1:
                return defaults[0]
            if not defaults:
                raise ReadRejected({"camera": ["This device has no cameras assigned."]})
            listed = ", ".join(c.slug for c in defaults[: self.LISTED])
            more = ", …" if len(defaults) > self.LISTED else ""
            raise ReadRejected(
                {"camera": [f"Required: this device posts for several cameras ({listed}{more})."]}
            )
        if not isinstance(ref, str | int) or isinstance(ref, bool):
            raise ReadRejected({"camera": ["Must be a string (the camera's slug)."]})
        ref = str(ref)
        camera = self.by_external_id.get(ref) or self.by_slug.get(ref)
        if camera is None:
            raise CameraUnknown(ref, adoptable=bool(self.device and self.device.adopts_cameras))
        return camera

    def adopt(self, ref: str) -> Camera:
        """The camera the device adopts for `ref` (cameras.services.camera_adopt), as the
        ingest reads cameras (with the after-store steps' answers), known from now on."""
        try:
            camera_adopt(device=self.device, external_id=ref)
        except AdoptionRefused as refused:
            raise ReadRejected(
                {"camera": [f"No camera '{ref[:64]}' among this device's cameras ({refused})."]}
            ) from None
        named = cameras_of_device(device=self.device, named=[ref], extras=after_store_work_sql())
        camera = next(c for c in named if c.external_id == ref)
        self.cameras.append(camera)
        self.by_external_id[ref] = camera
        self.by_slug[camera.slug] = camera
        return camera

    def slug_of(self, ref) -> str | None:
        """The slug of the camera a reference names, as `resolve` finds it; None if none."""
        try:
            return self.resolve(ref).slug
        except ReadRejected:
            return None

    def zone(self, camera: Camera, ref) -> Zone | None:
        """The zone by name or id; it must belong to the camera."""
        if ref is None or ref == "":
            return None
        if self._zones is None:
            self._zones = {}
            cameras = {c.pk for c in self.cameras + (self.defaults or [])}
            for zone in Zone.objects.filter(camera_id__in=cameras):
                self._zones.setdefault(zone.camera_id, []).append(zone)
        zones = self._zones.get(camera.pk, ())
        if isinstance(ref, str):
            for zone in zones:
                if zone.name == ref:
                    return zone
        if (
            isinstance(ref, int)
            and not isinstance(ref, bool)
            or (isinstance(ref, str) and ascii_integer(ref) is not None)
        ):
            for zone in zones:
                if zone.pk == int(ref):
                    return zone
        if not isinstance(ref, str | int) or isinstance(ref, bool):
            raise ReadRejected({"zone": ["Must be the zone's name or id."]})
        raise ReadRejected({"zone": [f"Camera '{camera.slug}' has no zone '{str(ref)[:64]}'."]})
