"""Instructions per single-read ingest: post N native reads (3 candidates each; with a file
of listed plates, 1% of them listed) through anpr.wsgi's application in-process, after 30
warm-up posts. Run it under callgrind with N=0 and N=400 (PYTHONHASHSEED=0, the same
database) and divide the difference of the totals by 400:

    PYTHONHASHSEED=0 valgrind --tool=callgrind python devtools/benchmark/ingest_callgrind.py 400

It adds a device (and a camera cg-cam) to the database it runs on."""

import io
import json
import os
import random
import sys
from datetime import UTC, datetime, timedelta

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "anpr.settings")
from anpr.wsgi import application  # noqa: E402
from cameras.models import Camera  # noqa: E402
from cameras.services import device_create  # noqa: E402

count = int(sys.argv[1])
listed = open(sys.argv[2]).read().split() if len(sys.argv) > 2 else []
camera, _ = Camera.objects.get_or_create(slug="cg-cam", defaults={"name": "cg"})
device, issued = device_create(name=f"cg-{random.random()}", cameras=[camera])
key = issued.key
rng = random.Random(5)
chars = "ABCDEFGHJKLMNPRSTUVWXYZ0123456789"


def plate():
    return "".join(rng.choice(chars) for _ in range(7))


def post(n):
    listed_read = listed and n % 100 == 0
    body = json.dumps(
        {
            "plate": rng.choice(listed) if listed_read else plate(),
            "captured_at": (datetime.now(UTC) - timedelta(seconds=1)).isoformat(),
            "event_id": f"cg-{rng.random()}",
            "confidence": 0.9,
            "candidates": [{"plate": plate(), "confidence": 0.3} for _ in range(3)],
        }
    ).encode()
    environ = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": "/api/events/ingest/",
        "SERVER_NAME": "localhost",
        "SERVER_PORT": "80",
        "HTTP_HOST": "localhost",
        "wsgi.url_scheme": "http",
        "CONTENT_TYPE": "application/json",
        "CONTENT_LENGTH": str(len(body)),
        "HTTP_AUTHORIZATION": f"Token {key}",
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.version": (1, 0),
        "wsgi.multithread": False,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }
    status = []
    result = application(environ, lambda s, h, exc_info=None: status.append(s))
    b"".join(result)
    if hasattr(result, "close"):
        result.close()
    assert status[0].startswith("201"), status


for n in range(30):
    post(n)
for n in range(count):
    post(n)
print("posted", count)
