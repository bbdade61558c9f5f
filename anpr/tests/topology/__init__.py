"""compose.yaml's topology, really run: Debian's nginx with deploy/nginx.conf in front of
gunicorn (deploy/gunicorn.conf.py), daphne, a Celery worker and beat, on PostgreSQL and Redis.

Each process is started with its compose service's command and environment; only what names
compose's network and volumes changes (free loopback ports, folders under tmp_path, a database
of the module's own). Everything a device, a viewer and an outsider meet goes through nginx.
The processes start once for the module and always stop at its end; a failed test prints the
end of every process's log.
"""
