"""Load the settings in a fresh interpreter, as a server would at start-up."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
#: Variables of the caller's environment that a start-up test sets itself (or leaves unset).
MODE_VARIABLES = {"DATABASE_URL", "REDIS_URL", "SECRET_KEY", "DEBUG", "DATA_DIR", "HTTPS"}


def settings_printed(
    expressions: str, data_dir: Path, **env_overrides: str
) -> subprocess.CompletedProcess:
    """Start Django with only `env_overrides` set over a clean mode, and print the settings
    `expressions` (Python, `s` is django.conf.settings) joined by '|'."""
    env = {k: v for k, v in os.environ.items() if k not in MODE_VARIABLES}
    env.update({"DATA_DIR": str(data_dir), "DJANGO_SETTINGS_MODULE": "anpr.settings"})
    env.update(env_overrides)
    code = (
        "import django; django.setup(); from django.conf import settings as s; "
        f"print({expressions}, sep='|')"
    )
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
