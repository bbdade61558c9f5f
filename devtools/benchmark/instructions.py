"""Instructions per device request, counted by valgrind's callgrind: the single-read ingest's
CPU as a figure that repeats to within a fraction of a percent, where wall-clock rates on a
shared machine swing by tens of percent.

    python -m devtools.benchmark.instructions [--requests 200] [--warmup 30]
        [--log-level WARNING] [--keep callgrind.out] [--python-profile]
    manage.py benchmark_instructions ...          # the same, through the devtools app

It loads anpr.wsgi's application in this process (what gunicorn's workers serve), makes one
camera and a fresh device with a key (`instructions-cam`, `instructions-device`), posts
--warmup reads, then --requests reads of one realistic body (devtools/benchmark/wrk/
post_event.lua's, a fresh event_id and plate each), and prints instructions per request.
Only `application(environ, start_response)` and reading and closing its answer are counted:
the environs are built beforehand, and callgrind's counters are zeroed as the measured
requests start (at `os.getpgrp()`, which nothing else calls) and dumped as they end (at
`os.getppid()`). The reads are deleted afterwards. Use a database of its own (DATABASE_URL);
LOG_LEVEL is WARNING unless --log-level says otherwise (production's INFO adds the request
log line). --keep writes callgrind's dump for `callgrind_annotate --inclusive=yes`;
--python-profile runs without valgrind under cProfile and prints the top functions instead.
--candidates N adds N OCR candidates (random plates) to each read, and --listed FILE makes
every 100th read a plate of the file (one a line), for the cost of an enabled watchlist;
the watchlists' entry index is built during the warm-up (inline), not while measuring.

The file has no imports from the project at module level, so it can be copied into another
checkout (an older commit, in a `git worktree`) and run there the same way, for a before and
after in one sitting.
"""

import argparse
import io
import os
import random
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

_PROJECT = Path(__file__).resolve().parents[2]
CAMERA_SLUG = "instructions-cam"
DEVICE_NAME = "instructions-device"
PATH = "/api/events/ingest/"
_ZERO_AT = "os_getpgrp"  # CPython's C function behind os.getpgrp()
_DUMP_AT = "os_getppid"  # ... and behind os.getppid()
_LETTERS = "ABCDEFGHJKLMNPRSTUVWXYZ"
_DIGITS = "0123456789"
_MAKES = (("Toyota", "Corolla"), ("Ford", "Transit"), ("Volkswagen", "Golf"), ("BMW", "320d"))


def arguments_parse(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m devtools.benchmark.instructions")
    options_add(parser)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def options_add(parser) -> None:
    """The options, for this module's command line and manage.py benchmark_instructions."""
    parser.add_argument("--requests", type=int, default=200, help="Measured requests.")
    parser.add_argument("--warmup", type=int, default=30, help="Requests before measuring.")
    parser.add_argument(
        "--log-level", default="WARNING", help="LOG_LEVEL of the process (production: INFO)."
    )
    parser.add_argument("--keep", default="", help="Write callgrind's dump to this file.")
    parser.add_argument(
        "--python-profile",
        action="store_true",
        help="No valgrind: profile the measured requests with cProfile, print the top 40.",
    )
    parser.add_argument("--candidates", type=int, default=0, help="OCR candidates per read.")
    parser.add_argument(
        "--listed", default="", help="A file of plates (one a line): every 100th read is one."
    )


def instructions_measure(options: argparse.Namespace) -> int | None:
    """Run the requests under callgrind in a child process (a fresh one: LOG_LEVEL is read
    when settings load); instructions per request. With --python-profile, the child runs
    without valgrind and prints its profile; None."""
    child = [
        sys.executable,
        "-m",
        "devtools.benchmark.instructions",
        "--child",
        f"--requests={options.requests}",
        f"--warmup={options.warmup}",
        f"--log-level={options.log_level}",
        f"--candidates={options.candidates}",
        f"--listed={options.listed}",
    ]
    if options.python_profile:
        subprocess.run([*child, "--python-profile"], env=_child_env(options), check=True)
        return None
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "callgrind.out"
        command = [
            "valgrind",
            "--tool=callgrind",
            f"--callgrind-out-file={out}",
            f"--zero-before={_ZERO_AT}",
            f"--dump-before={_DUMP_AT}",
            *child,
        ]
        log = Path(folder) / "log"
        with log.open("w") as stderr:
            done = subprocess.run(command, stderr=stderr, env=_child_env(options), check=False)
        if done.returncode:
            sys.stderr.write(log.read_text()[-4000:])
            raise SystemExit(f"The measured process failed ({done.returncode}).")
        dump = out.with_name(out.name + ".1")
        if options.keep:
            Path(options.keep).write_bytes(dump.read_bytes())
        total = _callgrind_total(dump)
    return round(total / options.requests)


def _child_env(options) -> dict[str, str]:
    env = {**os.environ, "LOG_LEVEL": options.log_level}
    env.setdefault("DJANGO_SETTINGS_MODULE", "anpr.settings")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(_PROJECT), env.get("PYTHONPATH")]))
    return env


def _callgrind_total(dump: Path) -> int:
    for line in dump.read_text().splitlines():
        if line.startswith(("summary:", "totals:")):
            return int(line.split()[1])
    raise SystemExit(f"No total in {dump}.")


def requests_post(options: argparse.Namespace) -> None:
    """The measured process: anpr.wsgi's application, posted to in-process."""
    os.environ["LOG_LEVEL"] = options.log_level
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "anpr.settings")
    from anpr.wsgi import application  # sets Django up, as in a gunicorn worker

    camera, key = _site_fresh()
    rng = random.Random(42)
    listed = Path(options.listed).read_text().split() if options.listed else []
    _index_inline()
    try:
        answers = _post_all(
            application,
            [_environ(key, rng, n, options.candidates, listed) for n in range(options.warmup)],
        )
        environs = [
            _environ(key, rng, n, options.candidates, listed) for n in range(options.requests)
        ]
        if options.python_profile:
            import cProfile
            import pstats

            profile = cProfile.Profile()
            profile.enable()
            measured = _post_all(application, environs)
            profile.disable()
            pstats.Stats(profile).sort_stats("cumulative").print_stats(40)
        else:
            os.getpgrp()  # callgrind zeroes its counters here...
            measured = _post_all(application, environs)
            os.getppid()  # ... and dumps them here
        refused = {status for status in answers + measured if status != "201 Created"}
        if refused:
            raise SystemExit(f"Not every read was stored: {sorted(refused)}.")
    finally:
        _site_clear(camera)


def _post_all(application, environs: list[dict]) -> list[str]:
    statuses = []

    def start_response(status, headers, exc_info=None):
        statuses.append(status)

    for environ in environs:
        answer = application(environ, start_response)
        for _ in answer:
            pass
        if hasattr(answer, "close"):  # as a WSGI server does: Django sends request_finished
            answer.close()
    return statuses


def _index_inline() -> None:
    """The watchlists' entry index (where there is one) built in the request that finds it
    missing, a warm-up one, rather than in a thread that would run while measuring."""
    try:
        from watchlists.entry_index import entry_index
    except ImportError:
        return
    entry_index.background = False


def _environ(
    key: str, rng: random.Random, n: int = 1, candidates: int = 0, listed: list | None = None
) -> dict:
    """A gunicorn-like environ of one native read, as post_event.lua sends it."""
    make, model = rng.choice(_MAKES)
    x, y = rng.randint(0, 1600), rng.randint(0, 900)
    now = datetime.now(UTC)
    plate = _plate(rng)
    if listed and n % 100 == 0:
        plate = rng.choice(listed)
    extra = ""
    if candidates:
        others = ",".join(
            f'{{"plate":"{_plate(rng)}","confidence":0.3}}' for _ in range(candidates)
        )
        extra = f',"candidates":[{others}]'
    body = (
        f'{{"event_id":"instr-{rng.getrandbits(64):x}","camera":"{CAMERA_SLUG}",'
        f'"plate":"{plate}","captured_at":"{now:%Y-%m-%dT%H:%M:%S}.{now.microsecond // 1000:03d}Z",'
        f'"confidence":{0.55 + rng.random() * 0.449:.3f},"vehicle_type":"SUV",'
        f'"vehicle_color":"silver","vehicle_make":"{make}","vehicle_model":"{model}",'
        f'"direction":"{rng.choice(("in", "out"))}","plate_box":[{x},{y},{x + 180},{y + 50}],'
        f'"speed_kmh":{5 + rng.random() * 105:.1f},"lane":{rng.randint(1, 4)}{extra}}}'
    ).encode()
    return {
        "REQUEST_METHOD": "POST",
        "SCRIPT_NAME": "",
        "PATH_INFO": PATH,
        "RAW_URI": PATH,
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "SERVER_SOFTWARE": "gunicorn",
        "REMOTE_ADDR": "127.0.0.1",
        "REMOTE_PORT": "40000",
        "HTTP_HOST": "127.0.0.1:8000",
        "HTTP_USER_AGENT": "instructions",
        "HTTP_AUTHORIZATION": f"Token {key}",
        "CONTENT_TYPE": "application/json",
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }


def _plate(rng: random.Random) -> str:
    return "".join(
        [*rng.sample(_LETTERS, 2), *rng.sample(_DIGITS, 2), " ", *rng.sample(_LETTERS, 3)]
    )


def _site_fresh():
    """The camera, and a new device with a new key (a fresh throttle window each run)."""
    from cameras.models import Camera, EdgeDevice
    from cameras.services import device_create

    camera, _ = Camera.objects.get_or_create(
        slug=CAMERA_SLUG, defaults={"name": "Instructions benchmark camera"}
    )
    _site_clear(camera)
    EdgeDevice.objects.filter(name=DEVICE_NAME).delete()
    _, issued = device_create(name=DEVICE_NAME, cameras=[camera])
    return camera, issued.key


def _site_clear(camera) -> None:
    from events.models import PlateEvent

    PlateEvent.objects.filter(camera=camera).delete()


def main(argv=None) -> None:
    options = arguments_parse(argv)
    if options.child:
        requests_post(options)
        return
    per_request = instructions_measure(options)
    if per_request is not None:
        print(
            f"{per_request:,} instructions per request ({options.requests} single native "
            f"reads after {options.warmup}, LOG_LEVEL={options.log_level})"
        )


if __name__ == "__main__":
    main()
