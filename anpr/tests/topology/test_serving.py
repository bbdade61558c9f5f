"""How the servers are run and what nginx keeps to itself: static files, gunicorn's deploy
configuration, metrics only inside the network, one request id end to end."""

import uuid

import requests


def test_static_files_are_served_by_nginx_not_by_gunicorn(topology):
    response = requests.get(f"{topology.url}/static/live/live_map.js", timeout=10)
    assert response.status_code == 200
    assert response.content == (topology.folder / "static/live/live_map.js").read_bytes()
    assert "Expires" in response.headers  # nginx's `expires 7d`
    assert "X-Request-ID" not in response.headers  # Django stamps everything it answers


def test_gunicorn_runs_with_the_deploy_configuration(topology):
    log = topology.log("web")
    assert "Using worker: sync" in log
    assert log.count("Booting worker") == 2  # WEB_CONCURRENCY
    assert "Control socket" not in log  # no management socket in the user's home


def test_metrics_are_not_reachable_through_nginx(topology):
    inside = requests.get(f"{topology.web_url}/metrics", timeout=10)
    assert inside.status_code == 200 and "anpr_" in inside.text  # the app would answer us

    for path, headers in (
        ("/metrics", {}),
        ("/metrics?format=text", {}),
        ("/ws/metrics", {}),
        ("/ws/metrics", {"Daphne-Root-Path": "/ws"}),
    ):
        response = requests.get(f"{topology.url}{path}", headers=headers, timeout=10)
        assert response.status_code == 404, (path, headers)
        assert "anpr_" not in response.text


def test_the_request_id_goes_end_to_end(topology):
    auth = {"Authorization": f"Bearer {topology.token}"}
    chosen = f"caller-{uuid.uuid4().hex}"
    kept = requests.get(
        f"{topology.url}/api/cameras/", headers={**auth, "X-Request-ID": chosen}, timeout=10
    )
    made = requests.get(f"{topology.url}/api/cameras/", headers=auth, timeout=10)
    assert kept.status_code == made.status_code == 200
    assert kept.headers["X-Request-ID"] == chosen
    generated = made.headers["X-Request-ID"]
    assert generated and generated != chosen

    for request_id in (chosen, generated):
        topology.wait_for_access(request_id=request_id, path="/api/cameras/", status=200)
        assert any(e.get("request_id") == request_id for e in topology.app_log())
