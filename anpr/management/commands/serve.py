"""Run everything in one command: the embedded quick start (and a handy dev server).

migrate → roles → an admin user (its generated password printed once) → demo data on a
first start → daphne (HTTP, admin, API, websockets) and a Celery worker with beat embedded.
Ctrl-C stops them all.
"""

import os
import secrets
import signal
import subprocess
import sys
import time

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command, get_commands
from django.core.management.base import BaseCommand


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

    def handle(self, *args, host, port, no_worker, no_demo, **options):
        settings.DATA_DIR.mkdir(parents=True, exist_ok=True)
        settings.STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # WhiteNoise looks there too
        call_command("migrate", interactive=False, verbosity=0)
        self.stdout.write("Database is up to date.")
        self._ensure_admin()
        if not no_demo:
            self._load_demo_once()

        children = [
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "anpr.daphne_server",  # daphne, refusing an over-limit body unread
                    "-b",
                    host,
                    "-p",
                    str(port),
                    # No --proxy-headers: the quick start faces clients directly, and trusting
                    # X-Forwarded-For would let them pick the address that /metrics and the
                    # admin sign-in limit look at.
                    # Our request log (core.middleware) masks device keys in paths; daphne's
                    # own access log would print them.
                    "--access-log",
                    os.devnull,
                    "anpr.asgi:application",
                ],
            )
        ]
        if not no_worker:
            children.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "celery",
                        "-A",
                        "anpr",
                        "worker",
                        "--beat",
                        "--loglevel",
                        "INFO",
                        "--concurrency",
                        "2",
                        "--schedule",
                        settings.CELERY_BEAT_SCHEDULE_FILENAME,
                    ],
                )
            )
        self.stdout.write(
            self.style.SUCCESS(
                f"Serving on http://{host}:{port}/ (admin: /admin/, API docs: /api/docs/). "
                "Ctrl-C stops everything."
            )
        )
        self._wait(children)

    def _ensure_admin(self):
        User = get_user_model()
        if User.objects.filter(is_superuser=True).exists():
            return
        password = secrets.token_urlsafe(12)
        user = User.objects.create_superuser("admin", email="", password=password)
        from django.contrib.auth.models import Group

        user.groups.add(Group.objects.get(name="admin"))
        self.stdout.write(
            self.style.WARNING(
                f"Created the admin user 'admin' with password: {password}\n"
                "This is shown only once; change it in the admin (or `manage.py changepassword`)."
            )
        )

    def _load_demo_once(self):
        from cameras.models import Camera

        if "demo_data" in get_commands() and not Camera.objects.exists():
            self.stdout.write("Empty database: loading demo data (skip with --no-demo).")
            call_command("demo_data")

    def _wait(self, children):
        def stop(*_):
            for child in children:
                if child.poll() is None:
                    child.terminate()

        signal.signal(signal.SIGTERM, stop)
        try:
            while all(child.poll() is None for child in children):
                time.sleep(0.5)
        except KeyboardInterrupt:
            pass
        finally:
            stop()
            deadline = time.monotonic() + 15
            for child in children:
                try:
                    child.wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    child.kill()
        failed = [c for c in children if c.returncode not in (0, -signal.SIGTERM, None)]
        if failed:
            sys.exit(1)
