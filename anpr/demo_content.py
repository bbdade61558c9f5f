"""What the demo's reads look like: plates, vehicles, and small drawn pictures of them.

Shared by `manage.py demo_data` (a week of stored reads) and the live demo devices
(anpr/demo_live.py, which post through the API as an edge box would). Pure Python and Pillow,
no Django: the live poster is an HTTP client like any device. Pictures are drawn, not
photographed, and are the same for the same seed.
"""

import io
import random

from PIL import Image, ImageDraw, ImageFont

LETTERS = "BDFGHJKLNPRSTVXZ"  # Dutch plates use no vowels
VEHICLES = (
    # type, make, model, weight
    ("car", "Volkswagen", "Golf", 12),
    ("car", "Toyota", "Yaris", 9),
    ("car", "Kia", "Niro", 7),
    ("car", "Tesla", "Model 3", 6),
    ("car", "Peugeot", "208", 7),
    ("car", "Renault", "Clio", 6),
    ("car", "Skoda", "Octavia", 6),
    ("car", "BMW", "3 Series", 4),
    ("car", "Volvo", "XC40", 4),
    ("van", "Mercedes-Benz", "Sprinter", 5),
    ("van", "Ford", "Transit", 5),
    ("truck", "DAF", "XF", 2),
    ("truck", "Scania", "R450", 1),
    ("bus", "VDL", "Citea", 2),
    ("motorcycle", "Honda", "CB500", 2),
)
COLORS = (("grey", 8), ("black", 7), ("white", 7), ("silver", 5), ("blue", 4), ("red", 3))

# Plate backgrounds by country (NL and British rear plates are yellow), and body paint.
PLATE_BACKGROUND = {"NL": (247, 200, 16), "GB": (250, 204, 20)}
PAINT = {
    "grey": (110, 114, 120),
    "black": (28, 30, 34),
    "white": (232, 234, 236),
    "silver": (178, 182, 188),
    "blue": (40, 78, 160),
    "red": (170, 32, 36),
}
PLATE_SIZE = (240, 52)
FRAME_SIZE = (640, 360)


def dutch_plate(rng: random.Random) -> str:
    """A plate in one of the current Dutch side codes (e.g. GF-123-K, 1-KBB-23)."""

    def letters(n):
        return "".join(rng.choice(LETTERS) for _ in range(n))

    def digits(n):
        return "".join(rng.choice("0123456789") for _ in range(n))

    return rng.choice(
        (
            lambda: f"{letters(2)}-{digits(3)}-{letters(1)}",
            lambda: f"{digits(1)}-{letters(3)}-{digits(2)}",
            lambda: f"{letters(3)}-{digits(2)}-{letters(1)}",
            lambda: f"{digits(2)}-{letters(3)}-{digits(1)}",
            lambda: f"{letters(1)}-{digits(3)}-{letters(2)}",
        )
    )()


def foreign_plate(rng: random.Random) -> tuple[str, str]:
    """A German, Belgian, French or British plate, and its country."""
    country = rng.choice(("DE", "BE", "FR", "GB"))

    def letters(n):
        return "".join(rng.choices("ABCDEFGHJKLMNPRSTUVWXYZ", k=n))

    number = rng.randint
    plate = {
        "DE": lambda: f"{rng.choice(('B', 'D', 'K', 'DU', 'KLE'))} {letters(2)} {number(1, 9999)}",
        "BE": lambda: f"1-{letters(3)}-{number(0, 999):03d}",
        "FR": lambda: f"{letters(2)}-{number(0, 999):03d}-{letters(2)}",
        "GB": lambda: f"{letters(2)}{number(10, 73)} {letters(3)}",
    }[country]()
    return plate, country


def vehicle_pick(rng: random.Random, *, foreign_share: float) -> tuple:
    """(plate, country, type, make, model, colour) of a vehicle chosen by the weights above."""
    kind, make, model, _ = rng.choices(VEHICLES, [v[3] for v in VEHICLES])[0]
    color = rng.choices([c for c, _ in COLORS], [w for _, w in COLORS])[0]
    foreign = rng.random() < foreign_share
    plate, country = foreign_plate(rng) if foreign else (dutch_plate(rng), "NL")
    return plate, country, kind, make, model, color


def _font(size: int):
    return ImageFont.load_default(size=size)  # Pillow's bundled font: no system fonts needed


def _plate_draw(draw: ImageDraw.ImageDraw, box: tuple, plate: str, country: str) -> None:
    """A plate into `box` (left, top, right, bottom): coloured field, EU strip, dark text."""
    left, top, right, bottom = box
    height = bottom - top
    background = PLATE_BACKGROUND.get(country, (246, 246, 246))
    draw.rounded_rectangle(box, radius=max(2, height // 8), fill=background, outline=(20, 20, 20))
    strip = max(4, height * 2 // 5)
    if country != "GB":
        draw.rectangle((left + 1, top + 1, left + strip, bottom - 1), fill=(0, 51, 153))
        code_font = _font(max(6, height // 4))
        draw.text((left + strip / 2 + 1, bottom - height / 4), country, fill="white",
                  font=code_font, anchor="mm")  # fmt: skip
    else:
        strip = 0
    font = _font(max(8, int(height * 0.7)))
    centre = ((left + strip + right) / 2, (top + bottom) / 2)
    draw.text(centre, plate, fill=(17, 17, 17), font=font, anchor="mm")


def plate_crop_jpeg(plate: str, *, country: str) -> bytes:
    """A plate crop as a camera's OCR stage would upload it (240x52 JPEG)."""
    picture = Image.new("RGB", PLATE_SIZE, (60, 60, 60))
    draw = ImageDraw.Draw(picture)
    _plate_draw(draw, (4, 4, PLATE_SIZE[0] - 4, PLATE_SIZE[1] - 4), plate, country)
    return _jpeg(picture)


def scene_frame_jpeg(
    plate: str, *, country: str, vehicle_type: str, color: str, seed: int
) -> bytes:
    """A full frame (640x360 JPEG): a road seen from a pole, a vehicle, its plate. Where the
    vehicle stands and the time of day vary with `seed`."""
    rng = random.Random(seed)
    width, height = FRAME_SIZE
    night = rng.random() < 0.25
    picture = Image.new("RGB", FRAME_SIZE, (36, 44, 58) if night else (150, 186, 214))
    draw = ImageDraw.Draw(picture)
    horizon = 110
    draw.rectangle((0, horizon - 20, width, horizon), fill=(58, 66, 60) if night else (96, 140, 84))
    draw.polygon(
        [(250, horizon), (390, horizon), (width, height), (0, height)],
        fill=(44, 46, 50) if night else (86, 88, 92),
    )
    for step in range(6):  # dashed centre line, wider as it comes closer
        y0 = horizon + 12 + step * 42
        near, far = 2 + step * 2, 2 + step
        corners = [(320 - far, y0), (320 + far, y0), (320 + near, y0 + 24), (320 - near, y0 + 24)]
        draw.polygon(corners, fill=(220, 220, 210))
    scale = {"truck": 1.35, "bus": 1.45, "van": 1.2, "motorcycle": 0.55}.get(vehicle_type, 1.0)
    body_w, body_h = int(250 * scale), int(150 * scale)
    centre_x = rng.randint(230, 410)
    bottom = rng.randint(300, 345)
    left, top = centre_x - body_w // 2, bottom - body_h
    paint = PAINT.get(color, (120, 120, 120))
    draw.rounded_rectangle((left, top, left + body_w, bottom), radius=18, fill=paint,
                           outline=(15, 15, 15), width=2)  # fmt: skip
    glass = (70, 90, 110) if not night else (25, 30, 40)
    draw.rounded_rectangle((left + body_w * 0.12, top + body_h * 0.08, left + body_w * 0.88,
                            top + body_h * 0.42), radius=10, fill=glass)  # fmt: skip
    lamp = (255, 236, 170) if night else (235, 235, 225)
    for x in (left + 12, left + body_w - 42):
        draw.rectangle((x, top + body_h * 0.55, x + 30, top + body_h * 0.66), fill=lamp)
    plate_w, plate_h = int(110 * max(scale, 0.8)), int(24 * max(scale, 0.8))
    plate_left = centre_x - plate_w // 2
    plate_top = int(top + body_h * 0.7)
    _plate_draw(draw, (plate_left, plate_top, plate_left + plate_w, plate_top + plate_h),
                plate, country)  # fmt: skip
    return _jpeg(picture)


def _jpeg(picture: Image.Image) -> bytes:
    out = io.BytesIO()
    picture.save(out, format="JPEG", quality=80)
    return out.getvalue()
