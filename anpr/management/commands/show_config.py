"""manage.py show_config: the settings this process runs with, secrets redacted."""

import json
import re
from urllib.parse import urlsplit, urlunsplit

from django.conf import settings
from django.core.management.base import BaseCommand

import anpr.settings as project_settings

REDACTED = "***"
#: Setting (or dict key) names whose values are secrets: the name ends in a secret's word
#: (EMAIL_HOST_PASSWORD, METRICS_TOKEN, a DATABASES entry's PASSWORD) or names a secret key
#: (SECRET_KEY, SECRET_KEY_FALLBACKS, API_KEY). A word that only says what a setting is about
#: is no secret: AUTH_PASSWORD_VALIDATORS, PASSWORD_HASHERS, PASSWORD_RESET_TIMEOUT.
_SECRET_NAME = re.compile(
    r"(^|_)(SECRET|PASSWORD|PASSWD|TOKEN|CREDENTIAL)S?$|(^|_)(SECRET|PRIVATE|API)_KEY", re.I
)


def redacted(value, name: str = ""):
    """The value with secrets replaced: by name (SECRET_KEY, PASSWORD, ...) and passwords
    inside URLs (DATABASE_URL, REDIS_URL, channel layer hosts), at any depth."""
    if name and _SECRET_NAME.search(name) and value not in ("", None, [], {}):
        return REDACTED
    if isinstance(value, dict):
        return {key: redacted(item, str(key)) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [redacted(item) for item in value]
    if isinstance(value, str):
        return _url_without_password(value)
    if isinstance(value, (int, float, bool)) or value is None:
        return value
    return str(value)


def _url_without_password(text: str) -> str:
    if "://" not in text or "@" not in text:
        return text
    parts = urlsplit(text)
    if not parts.password:
        return text
    netloc = parts.netloc.replace(f":{parts.password}@", f":{REDACTED}@")
    return urlunsplit(parts._replace(netloc=netloc))


class Command(BaseCommand):
    help = (
        "Print the effective settings (those anpr/settings.py defines, or all with --all) "
        "with secrets and URL passwords redacted."
    )

    def add_arguments(self, parser):
        parser.add_argument("--all", action="store_true", help="Include Django's defaults too.")
        parser.add_argument("--json", action="store_true", help="One JSON object.")

    def handle(self, *args, all, json, **options):
        names = sorted(
            name
            for name in (dir(settings) if all else vars(project_settings))
            if name.isupper() and not name.startswith("_")
        )
        values = {name: redacted(getattr(settings, name), name) for name in names}
        if json:
            self.stdout.write(_json_dump(values))
            return
        for name, value in values.items():
            self.stdout.write(f"{name} = {_json_dump(value)}")


def _json_dump(value) -> str:
    return json.dumps(value, default=str, sort_keys=True)
