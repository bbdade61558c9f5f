"""gunicorn for the web container: sync workers serve Django views (measured about 3x daphne
here; websockets go to daphne in their own container).

Prometheus: each worker is a process, so their metrics meet in PROMETHEUS_MULTIPROC_DIR. The
folder is emptied when gunicorn starts (old workers' files would count twice) and a dead
worker's live gauges are dropped.
"""

import os
import shutil

bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", "4"))
worker_class = "sync"
# A sync worker is busy for the whole request: a stuck one is killed after this many seconds.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = 30
keepalive = 5  # nginx keeps upstream connections open
# Recycle workers now and then, so a slow leak never becomes an outage.
max_requests = 50000  # a worker restart costs about a second of CPU (importing Django)
max_requests_jitter = 5000
# Django's request log (anpr.middleware) is the access log: it masks device keys in paths.
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
