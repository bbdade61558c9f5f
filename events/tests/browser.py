"""What the browser tests share: a real server (daphne, websockets included) on a free port
against its own database, and headless Chromium driven by Playwright.

pytest-django's live_server speaks HTTP only, so the server runs as a subprocess on a fresh
database the test also writes to through `manage.py shell` (SQLite file in the embedded mode;
a throwaway PostgreSQL database when DATABASE_URL points at PostgreSQL; the Redis channel
layer with its own prefix when REDIS_URL is set). Map tiles are switched off: the pages
must draw cameras and zones without them.
"""

import json
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path
from urllib.parse import urlparse, urlunparse

from anpr.localserver import ServerDidNotStart, free_port, wait_until_up
from conftest import require_service
from devtools.screenshots import CHROMIUM, CHROMIUM_ARGS

ROOT = Path(__file__).resolve().parents[2]
OUTPUT = ROOT / "test-output"


class ServerStack:
    """A migrated database and daphne serving anpr.asgi on it; start/stop at will."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None
        self._pg_admin_url = ""
        self._pg_name = ""
        self.env = self._environment()

    def _environment(self) -> dict:
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("PYTEST", "DJANGO_SETTINGS"))
        }
        env.update(
            DATA_DIR=str(self.folder / "data"),
            MEDIA_ROOT=str(self.folder / "media"),
            STATIC_ROOT=str(self.folder / "static"),
            MAP_TILE_URL="",
            SECRET_KEY=os.environ.get("SECRET_KEY") or "browser-tests-only-" + "x" * 40,
            CHANNEL_PREFIX=f"browser{uuid.uuid4().hex[:8]}",
            CELERY_QUEUE=f"browser{uuid.uuid4().hex[:8]}",
            LOG_LEVEL="WARNING",
        )
        (self.folder / "static").mkdir(parents=True, exist_ok=True)
        database_url = os.environ.get("DATABASE_URL", "")
        if database_url.startswith(("postgres://", "postgresql://")):
            self._pg_name = f"anpr_browser_{uuid.uuid4().hex[:10]}"
            parsed = urlparse(database_url)
            self._pg_admin_url = urlunparse(parsed._replace(path="/postgres"))
            env["DATABASE_URL"] = urlunparse(parsed._replace(path=f"/{self._pg_name}"))
        else:
            env.pop("DATABASE_URL", None)  # embedded: SQLite in DATA_DIR
        return env

    def create(self) -> None:
        if self._pg_name:
            import psycopg

            with psycopg.connect(self._pg_admin_url, autocommit=True) as admin:
                admin.execute(f'CREATE DATABASE "{self._pg_name}"')
        self.manage("migrate", "--no-input", "-v", "0")

    def destroy(self) -> None:
        self.stop()
        if self._pg_name:
            import psycopg

            with psycopg.connect(self._pg_admin_url, autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{self._pg_name}" WITH (FORCE)')

    def manage(self, *args: str) -> str:
        done = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if done.returncode:
            raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{done.stderr}")
        return done.stdout

    def django(self, code: str):
        """Run Python in the server's database (manage.py shell); returns the JSON it prints
        on its last line."""
        output = self.manage("shell", "-c", code).strip().splitlines()
        return json.loads(output[-1]) if output else None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "anpr.daphne_server",  # as `manage.py serve` runs it
                "-b",
                "127.0.0.1",
                "-p",
                str(self.port),
                "anpr.asgi:application",
            ],
            cwd=ROOT,
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=open(self.folder / "daphne.log", "a"),  # noqa: SIM115 (closed with the process)
        )
        try:
            wait_until_up(f"{self.url}/health", processes=[self.process])
        except ServerDidNotStart as error:
            log = (self.folder / "daphne.log").read_text()
            raise RuntimeError(f"daphne: {error}\n{log}") from None

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None


def launch_chromium(playwright):
    """Debian's Chromium (no browser download), or skip (fail in CI) when it is missing."""
    if not shutil.which(CHROMIUM):
        require_service("Chromium", f"{CHROMIUM} is not installed (apt-get install chromium)")
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


def sign_in(page, base_url: str, username: str, password: str, next_path: str | None = "/") -> None:
    """Signs in on the sign-in page; `next_path=None`: as someone who opened /login/ itself."""
    page.goto(f"{base_url}/login/" + (f"?next={next_path}" if next_path is not None else ""))
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("button[type=submit]")
