"""Checks of compose.yaml that its JSON schema cannot express: every depends_on target is a
service, nothing depends on itself, and every named volume and config a service uses is
declared. Usage: python deploy/check_compose.py [compose.yaml]; exit status 1 on a problem."""

import sys
from pathlib import Path

import yaml


def _depends_on(service: dict) -> list[str]:
    value = service.get("depends_on") or []
    return list(value) if isinstance(value, (dict, list)) else []


def _named_volumes(service: dict) -> list[str]:
    names = []
    for mount in service.get("volumes") or []:
        if isinstance(mount, str):
            source = mount.split(":", 1)[0] if ":" in mount else ""
            # A path (./data, /srv, ~/x) is a bind mount; a bare name is a named volume.
            if source and not source.startswith((".", "/", "~", "$")):
                names.append(source)
        elif isinstance(mount, dict) and mount.get("type", "volume") == "volume":
            if mount.get("source"):
                names.append(mount["source"])
    return names


def _configs(service: dict) -> list[str]:
    return [
        item if isinstance(item, str) else item.get("source", "")
        for item in service.get("configs") or []
    ]


def compose_problems(document: dict) -> list[str]:
    services = document.get("services") or {}
    volumes = set(document.get("volumes") or {})
    configs = set(document.get("configs") or {})
    problems = []
    if not services:
        problems.append("no services are defined")
    for name, service in services.items():
        service = service or {}
        for target in _depends_on(service):
            if target == name:
                problems.append(f"service {name!r} depends on itself")
            elif target not in services:
                problems.append(f"service {name!r} depends on {target!r}, which is not a service")
        for volume in _named_volumes(service):
            if volume not in volumes:
                problems.append(
                    f"service {name!r} mounts volume {volume!r}, which is not declared "
                    "under the top-level volumes"
                )
        for config in _configs(service):
            if config not in configs:
                problems.append(f"service {name!r} uses config {config!r}, which is not declared")
    return problems


def main(argv: list[str]) -> int:
    path = Path(argv[1] if len(argv) > 1 else "compose.yaml")
    problems = compose_problems(yaml.safe_load(path.read_text()) or {})
    for problem in problems:
        print(f"{path}: {problem}", file=sys.stderr)
    if not problems:
        print(f"{path}: depends_on targets, named volumes and configs all exist")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
