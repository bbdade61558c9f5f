"""Run everything in one command: the embedded quick start (and a handy dev server).

migrate → roles → an admin user (its generated password printed once) → demo data on a
first start → daphne (HTTP, admin, API, websockets), a Celery worker with beat embedded and,
with --live, the demo devices posting reads (anpr/demo_live.py). Once the server answers and
the worker is ready, the one-time password and keys are printed again as the last lines, so
no banner or log line scrolls them away. Ctrl-C stops them all, once.
"""

import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command, get_commands
from django.core.management.base import BaseCommand

#: How long to wait for daphne and the worker before printing the credentials regardless.
READY_TIMEOUT = 90


def _interrupt(*_):
    raise KeyboardInterrupt


class Command(BaseCommand):
    help = (
        "Migrate, create an admin if none exists, and serve the API, admin, live map and "
        "export delivery (daphne + a Celery worker with beat)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
        parser.add_argument(
            "--no-worker", action="store_true", help="Do not start the Celery worker and beat."
        )
        parser.add_argument(
            "--no-demo", action="store_true", help="Do not load demo data into an empty database."
        )
        parser.add_argument(
            "--live",
            action="store_true",
            help="The demo devices keep posting reads through the API (quiets the request log).",
        )

    def handle(self, *args, host, port, no_worker, no_demo, live, **options):
        settings.DATA_DIR.mkdir(parents=True, exist_ok=True)
        settings.STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # WhiteNoise looks there too
        call_command("migrate", interactive=False, verbosity=0)
        self.stdout.write("Database is up to date.")
        credentials = self._ensure_admin()
        if not no_demo:
            credentials += self._load_demo_once()
        url = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::', '') else host}:{port}"
        live_keys = self._live_keys_issue() if live else []
        ready_file = Path(tempfile.mkdtemp(prefix="anpr-serve-")) / "worker-ready"
        self.stdout.flush()  # what came so far, before the children's output (stdout a pipe)
        children = []
        # Stop the children as Ctrl-C does; SIGHUP too (a closed terminal reaches only this
        # command's process group, not the children's).
        for signum in (signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, _interrupt)
        try:
            children.append(self._daphne(host, port, quiet_requests=live))
            if not no_worker:
                children.append(self._worker(ready_file))
            if live_keys:
                children.append(self._poster(url, live_keys))
            self._wait_until_ready(url, children, ready_file=None if no_worker else ready_file)
            self._announce(host, port, credentials, live=bool(live_keys))
            self._wait(children)
        except KeyboardInterrupt:
            pass
        finally:
            self._stop(children)
            ready_file.unlink(missing_ok=True)
            ready_file.parent.rmdir()
            if live_keys:
                from anpr.demo_live import demo_keys_revoke

                demo_keys_revoke(records=[record for _, _, record in live_keys])
        failed = [c for c in children if c.returncode not in (0, -signal.SIGTERM, None)]
        if failed:
            sys.exit(1)

    # --- Before serving -----------------------------------------------------------------

    def _ensure_admin(self) -> list[str]:
        User = get_user_model()
        if User.objects.filter(is_superuser=True).exists():
            return []
        password = secrets.token_urlsafe(12)
        user = User.objects.create_superuser("admin", email="", password=password)
        from django.contrib.auth.models import Group

        user.groups.add(Group.objects.get(name="admin"))
        line = f"Created the admin user 'admin' with password: {password}"
        self.stdout.write(
            self.style.WARNING(
                f"{line}\nThis is shown only once; change it in the admin (or "
                "`manage.py changepassword`)."
            )
        )
        return [line]

    def _load_demo_once(self) -> list[str]:
        from cameras.models import Camera

        if "demo_data" not in get_commands() or Camera.objects.exists():
            return []
        self.stdout.write("Empty database: loading demo data (skip with --no-demo).")
        from anpr.management.commands.demo_data import Command as DemoData

        loader = DemoData(stdout=self.stdout, stderr=self.stderr)
        call_command(loader)
        return [f"Device {name} key (shown once): {key}" for name, key in loader.demo_keys]

    def _live_keys_issue(self) -> list:
        from anpr.demo_live import demo_keys_issue

        issued = demo_keys_issue()
        if not issued:
            self.stderr.write("--live: no demo devices in this database; not posting.")
        return issued

    # --- The processes ------------------------------------------------------------------
    # Each child runs in its own process group: the terminal's Ctrl-C reaches only this
    # command, which then stops each child once (a worker that got SIGINT from the terminal
    # and SIGTERM from us printed its shutdown twice).

    def _daphne(self, host, port, *, quiet_requests: bool) -> subprocess.Popen:
        env = dict(os.environ)
        if quiet_requests:  # the demo devices post every few seconds: a log line each
            env.setdefault("LOG_LEVEL", "WARNING")
        command = [
            sys.executable,
            "-m",
            "anpr.daphne_server",  # daphne, refusing an over-limit body unread
            "-b",
            host,
            "-p",
            str(port),
            # No --proxy-headers: the quick start faces clients directly, and trusting
            # X-Forwarded-For would let them pick the address that /metrics and the admin
            # sign-in limit look at. Our request log (core.middleware) masks device keys in
            # paths; daphne's own access log would print them.
            "--access-log",
            os.devnull,
            "anpr.asgi:application",
        ]
        return subprocess.Popen(command, env=env, process_group=0)

    def _worker(self, ready_file: Path) -> subprocess.Popen:
        command = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "anpr",
            "--quiet",  # no banner: it would bury the credentials
            "worker",
            "--beat",
            "--loglevel",
            "INFO",
            "--concurrency",
            "2",
            "--schedule",
            settings.CELERY_BEAT_SCHEDULE_FILENAME,
        ]
        env = {
            **os.environ,
            "ANPR_WORKER_READY_FILE": str(ready_file),
            "ANPR_QUIET_PERIODIC_TASKS": "1",  # no line per idle sweep (anpr/celery.py)
        }
        return subprocess.Popen(command, env=env, process_group=0)

    def _poster(self, url: str, issued: list) -> subprocess.Popen:
        poster = subprocess.Popen(
            [sys.executable, "-m", "anpr.demo_live", url],
            stdin=subprocess.PIPE,
            text=True,
            process_group=0,
        )
        poster.stdin.write(json.dumps({name: key for name, key, _ in issued}) + "\n")
        poster.stdin.close()
        return poster

    def _wait_until_ready(self, url: str, children, *, ready_file: Path | None) -> None:
        """Until daphne answers /liveness and the worker has said it is ready (or a child
        died, or READY_TIMEOUT passed: the credentials are printed then anyway)."""
        deadline = time.monotonic() + READY_TIMEOUT
        answered = False
        while time.monotonic() < deadline:
            if any(child.poll() is not None for child in children):
                return
            if not answered:
                try:
                    answered = requests.get(f"{url}/liveness", timeout=2).status_code == 200
                except requests.RequestException:
                    pass
            if answered and (ready_file is None or ready_file.exists()):
                return
            time.sleep(0.2)
        self.stderr.write(f"Not all processes were ready within {READY_TIMEOUT} s.")

    def _announce(self, host, port, credentials: list[str], *, live: bool) -> None:
        lines = [
            f"Serving on http://{host}:{port}/ (live map; admin: /admin/, API docs: /api/docs/)."
        ]
        if live:
            lines.append("Demo devices are posting a read every few seconds (--live).")
        lines.append("Ctrl-C stops everything.")
        block = [self.style.SUCCESS("\n".join(lines))]
        block += [self.style.WARNING(line) for line in credentials]
        # One write: a worker's log line cannot land between the credentials.
        self.stdout.write("\n".join(block))
        self.stdout.flush()

    def _wait(self, children) -> None:
        try:
            while all(child.poll() is None for child in children):
                time.sleep(0.5)
        except KeyboardInterrupt:
            pass

    def _stop(self, children) -> None:
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):  # not cut short
            signal.signal(signum, signal.SIG_IGN)
        for child in children:
            if child.poll() is None:
                child.terminate()
        deadline = time.monotonic() + 15
        for child in children:
            try:
                child.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(child.pid, signal.SIGKILL)  # the worker's pool processes too
                child.wait()
