"""gunicorn for the web container: sync workers serve Django views (measured about 3x daphne
here; websockets go to daphne in their own container).

Prometheus: each worker is a process, so their metrics meet in PROMETHEUS_MULTIPROC_DIR. The
folder is emptied when gunicorn starts (old workers' files would count twice) and a dead
worker's live gauges are dropped.
"""

import math
import os
import shutil


def cores() -> int:
    """The CPUs this process may use: those it may run on (a container's cpuset), fewer if a
    CPU quota (cgroup v2 cpu.max, e.g. `docker --cpus`) allows less time than that."""
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        usable = os.cpu_count() or 1
    try:
        with open("/sys/fs/cgroup/cpu.max") as limit:
            quota, period = limit.read().split()[:2]
    except (OSError, ValueError):
        return usable
    if quota == "max":
        return usable
    return max(1, min(usable, math.ceil(int(quota) / int(period))))


bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
# A sync worker spends most of a request on the CPU: one per core keeps the cores busy, and
# more only take turns on them (with PostgreSQL, where it shares the machine): on 2 cores, 4
# workers used more CPU per read than 2 (docs/production.md, "Speed in production").
workers = int(os.environ.get("WEB_CONCURRENCY") or 0) or cores()
worker_class = "sync"
# A sync worker is busy for the whole request: a stuck one is killed after this many seconds.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = 30
# No keepalive setting: a sync worker closes each connection after its answer (gunicorn ignores
# keepalive for sync workers), so nginx opens a connection per request to gunicorn.
# Recycle workers now and then, so a slow leak never becomes an outage. A restart costs about
# a second of CPU (importing Django) and starts with cold caches (device cache, prepared
# statement, a new database connection): at 50,000, a worker serving 700 reads a second
# restarted every 70 seconds.
max_requests = 500_000
max_requests_jitter = 50_000
# Django's request log (core.middleware) is the access log: it masks device keys in paths.
accesslog = None
errorlog = "-"
preload_app = False
# No gunicornc control socket ($HOME/.gunicorn/gunicorn.ctl): nothing in the container uses it,
# and two gunicorns of one user would take each other's.
control_socket_disable = True


def on_starting(server):
    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if folder:
        shutil.rmtree(folder, ignore_errors=True)
        os.makedirs(folder, exist_ok=True)


def child_exit(server, worker):
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
