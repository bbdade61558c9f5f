"""The documentation's pictures: every registered operators' page, photographed in headless
Chromium against a server holding the seeded demo (`manage.py screenshots`).

By default the server runs on a throwaway SQLite database in a temporary DATA_DIR, with the
in-process channel layer and no map tiles, so the pictures depend only on the code and the
seed (the demo's reads are placed relative to now: the times shown move, the shapes do not).
The pages come from the registry (core/pages.py), so a new page gets its picture without a
change here; each is named after its label (`Live map` → live-map.png).
"""

import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.utils.text import slugify

from anpr.localserver import ServerDidNotStart, free_port, wait_until_up
from core.pages import operator_pages_for

CHROMIUM = "/usr/bin/chromium"
# Debian's Chromium, as the browser tests launch it too (events/tests/browser.py): without the
# background-networking flags it tries, and fails, to reach Google's hosts at every start.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
#: What a page shows once it has drawn, beyond the network going quiet (URL name → selector).
READY_SELECTORS = {
    "home": "path.camera-marker",
    "dashboard": "#cameras tbody tr",
    "hits": "#hits > li",
}
#: Charts and maps may animate after their data arrives.
SETTLE_SECONDS = 1.5
# A user that signs in for this run and is deleted after it: a superuser sees every page.
USERNAME = "screenshots"
CREATE_USER = """
from django.contrib.auth import get_user_model
User = get_user_model()
if User.objects.filter(username={username!r}).exists():
    raise SystemExit("A user named {username} exists already: delete it or use another database.")
User.objects.create_superuser({username!r}, email="", password={password!r})
"""
DELETE_USER = (
    "from django.contrib.auth import get_user_model\n"
    "get_user_model().objects.filter(username={username!r}).delete()"
)
DEMO_LOADED = (
    "import json\nfrom cameras.models import Camera\n"
    "print(json.dumps(Camera.objects.filter(metadata__demo=True).exists()))"
)


@dataclass(frozen=True)
class Picture:
    """One page to photograph: where it is and the file it goes to."""

    url_name: str
    path: str
    filename: str


def screenshot_pages() -> list[Picture]:
    """Every registered page, as a superuser sees the top bar."""
    everyone = get_user_model()(username=USERNAME, is_superuser=True, is_active=True)
    return [
        Picture(url_name=page["name"], path=page["url"], filename=f"{slugify(page['label'])}.png")
        for page in operator_pages_for(user=everyone)
    ]


def screenshots_take(
    *,
    output: Path,
    seed: int,
    configured_database: bool = False,
    dark: bool = False,
    viewport: tuple[int, int] = (1280, 800),
    log=print,
) -> list[Path]:
    """Load the demo with `seed`, serve it, and write a PNG of every registered page to
    `output` (and a `-dark` variant of each with `dark`). Returns the files written."""
    output.mkdir(parents=True, exist_ok=True)
    pictures = screenshot_pages()
    username, password = USERNAME, secrets.token_urlsafe(16)
    with tempfile.TemporaryDirectory(prefix="anpr-screenshots-") as folder:
        env = _environment(Path(folder), configured_database=configured_database)
        _manage(env, "migrate", "--no-input", "-v", "0")
        if json.loads(_manage(env, "shell", "-c", DEMO_LOADED).strip().splitlines()[-1]):
            log("The demo is loaded already: photographing it as it is.")
        else:
            _manage(env, "demo_data", "--seed", str(seed))
        _manage(env, "shell", "-c", CREATE_USER.format(username=username, password=password))
        try:
            with _server(env, Path(folder)) as url:
                return _photograph(
                    url,
                    pictures,
                    output,
                    credentials=(username, password),
                    dark=dark,
                    viewport=viewport,
                    log=log,
                )
        finally:
            _manage(env, "shell", "-c", DELETE_USER.format(username=username))


def _environment(folder: Path, *, configured_database: bool) -> dict:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("PYTEST", "DJANGO_SETTINGS"))
    }
    env.update(
        STATIC_ROOT=str(folder / "static"),
        MAP_TILE_URL="",  # no outside requests: the map draws on its plain background
        LOG_LEVEL="WARNING",
    )
    (folder / "static").mkdir()
    if not configured_database:
        for name in ("DATABASE_URL", "REDIS_URL", "MEDIA_ROOT"):
            env.pop(name, None)  # embedded: SQLite and the in-process channel layer
        env.update(DATA_DIR=str(folder / "data"), SECRET_KEY="screenshots-only-" + "x" * 40)
    return env


def _manage(env: dict, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if done.returncode:
        raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{done.stderr}")
    return done.stdout


@contextmanager
def _server(env: dict, folder: Path):
    """daphne as `manage.py serve` runs it, on a free port, until the block ends."""
    port = free_port()
    log_path = folder / "daphne.log"
    with open(log_path, "a") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "anpr.daphne_server", "-b", "127.0.0.1", "-p", str(port)]
            + ["--access-log", os.devnull, "anpr.asgi:application"],
            cwd=settings.BASE_DIR,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
        try:
            wait_until_up(f"http://127.0.0.1:{port}/health", processes=[process])
            yield f"http://127.0.0.1:{port}"
        except ServerDidNotStart as error:
            raise RuntimeError(f"daphne: {error}\n{log_path.read_text()}") from None
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _photograph(url, pictures, output, *, credentials, dark, viewport, log) -> list[Path]:
    from playwright.sync_api import sync_playwright

    if not shutil.which(CHROMIUM):
        raise RuntimeError(f"{CHROMIUM} is not installed (apt-get install chromium).")
    written = []
    schemes = ("light", "dark") if dark else ("light",)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            width, height = viewport
            page = browser.new_page(viewport={"width": width, "height": height})
            page.goto(f"{url}/login/?next=/")
            page.fill("#id_username", credentials[0])
            page.fill("#id_password", credentials[1])
            page.click("button[type=submit]")
            page.wait_for_url(f"{url}/")
            for scheme in schemes:
                page.emulate_media(color_scheme=scheme, reduced_motion="reduce")
                for picture in pictures:
                    answer = page.goto(f"{url}{picture.path}", wait_until="networkidle")
                    if not (answer and answer.ok) or page.url != f"{url}{picture.path}":
                        raise RuntimeError(f"{picture.path} did not open as a signed-in page.")
                    selector = READY_SELECTORS.get(picture.url_name)
                    if selector:
                        page.wait_for_selector(selector, state="attached")
                    page.mouse.move(width - 1, height - 1)  # no hover effects or tooltips
                    time.sleep(SETTLE_SECONDS)
                    name = picture.filename
                    if scheme == "dark":
                        name = name.removesuffix(".png") + "-dark.png"
                    path = output / name
                    page.screenshot(path=str(path))
                    written.append(path)
                    log(f"{path} ({path.stat().st_size // 1024} KiB)")
        finally:
            browser.close()
    return written
