"""The deployment files: compose.yaml against the Compose Specification and our own checks
(what .ci/run runs), and the image's promises (non-root, health check, static files)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "deploy"))
from check_compose import compose_problems  # noqa: E402

CHECK_JSONSCHEMA = Path(sys.executable).with_name("check-jsonschema")


def compose() -> dict:
    return yaml.safe_load((ROOT / "compose.yaml").read_text())


def test_compose_file_passes_the_compose_specification_schema(tmp_path):
    if not CHECK_JSONSCHEMA.exists():
        pytest.skip("check-jsonschema is not installed (requirements-dev.txt)")
    command = [str(CHECK_JSONSCHEMA), "--builtin-schema", "vendor.compose-spec"]
    done = subprocess.run([*command, str(ROOT / "compose.yaml")], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    broken = compose()
    broken["services"]["web"]["depends_on"]["db"]["condition"] = "service_happy"
    (tmp_path / "compose.yaml").write_text(yaml.safe_dump(broken))
    refused = subprocess.run([*command, str(tmp_path / "compose.yaml")], capture_output=True)
    assert refused.returncode != 0


def test_every_depends_on_target_volume_and_config_exists():
    assert compose_problems(compose()) == []
    done = subprocess.run(
        [sys.executable, "deploy/check_compose.py", "compose.yaml"], cwd=ROOT, capture_output=True
    )
    assert done.returncode == 0


def test_the_checks_catch_a_missing_service_volume_or_config():
    document = compose()
    document["services"]["worker"]["depends_on"]["cache"] = {"condition": "service_started"}
    document["services"]["nginx"]["volumes"].append("certs:/etc/nginx/certs:ro")
    document["services"]["nginx"]["configs"].append({"source": "tls", "target": "/x"})
    document["services"]["beat"]["depends_on"] = ["beat"]
    problems = "\n".join(compose_problems(document))
    assert "'cache', which is not a service" in problems
    assert "volume 'certs'" in problems
    assert "config 'tls'" in problems
    assert "'beat' depends on itself" in problems


def test_the_stack_has_every_role_with_health_and_start_order():
    services = compose()["services"]
    assert {"db", "redis", "migrate", "web", "websocket", "worker", "beat", "nginx"} <= set(
        services
    )
    for name in ("web", "websocket", "worker", "beat"):
        assert services[name]["depends_on"]["migrate"]["condition"] == (
            "service_completed_successfully"
        )
        assert services[name]["depends_on"]["db"]["condition"] == "service_healthy"
    assert "gunicorn" in services["web"]["command"]
    assert "anpr.daphne_server" in services["websocket"]["command"]  # daphne, bodies limited
    assert {"pgdata", "media"} <= set(compose()["volumes"])
    assert "pgdata:/var/lib/postgresql/data" in services["db"]["volumes"]


def test_the_image_runs_as_a_non_root_user_with_a_health_check():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert dockerfile.count("\nFROM ") + dockerfile.startswith("FROM ") >= 2  # multi-stage
    assert "\nUSER anpr\n" in dockerfile
    assert "HEALTHCHECK" in dockerfile and "/health" in dockerfile
    assert "collectstatic" in dockerfile


def _gunicorn_workers(monkeypatch, **env) -> int:
    import runpy

    monkeypatch.delenv("WEB_CONCURRENCY", raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return runpy.run_path(str(ROOT / "deploy" / "gunicorn.conf.py"))["workers"]


def test_gunicorn_starts_one_worker_per_usable_core_unless_told(monkeypatch):
    """compose passes WEB_CONCURRENCY through, 0 when unset: then one sync worker per CPU this
    process may use (more only take turns on the cores)."""
    cores = runpy_cores()
    assert _gunicorn_workers(monkeypatch) == cores
    assert _gunicorn_workers(monkeypatch, WEB_CONCURRENCY="0") == cores
    assert _gunicorn_workers(monkeypatch, WEB_CONCURRENCY="3") == 3
    assert compose()["services"]["web"]["environment"]["WEB_CONCURRENCY"] == "${WEB_CONCURRENCY:-0}"


def runpy_cores() -> int:
    import runpy

    return runpy.run_path(str(ROOT / "deploy" / "gunicorn.conf.py"))["cores"]()


def test_gunicorn_accepts_the_worker_count_compose_passes_when_none_is_set():
    """gunicorn reads WEB_CONCURRENCY itself, as an integer, before the config file: an empty
    value would stop the web container from starting."""
    import subprocess
    import sys

    environment = {**os.environ, "WEB_CONCURRENCY": "0"}
    checked = subprocess.run(
        [sys.executable, "-m", "gunicorn", "--check-config", "-c", "deploy/gunicorn.conf.py",
         "anpr.wsgi"],
        cwd=ROOT, env=environment, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert checked.returncode == 0, checked.stderr[-2000:]
