"""The README's quick start works as written: its curl posts to a camera the demo has, with the
key the demo prints, and every documentation page it links to exists."""

import io
import re
import shlex
from pathlib import Path

import pytest
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def _readme_curl() -> tuple[str, str]:
    """The curl command's URL path and body, as a newcomer would paste them."""
    block = re.search(r"```sh\n(KEY=.*?)```", README, re.S)
    assert block, "the README has no curl example that sets KEY"
    command = block.group(1).replace("'\"$(date -u +%FT%TZ)\"'", "NOW")
    words = shlex.split(command, comments=True)
    body = words[words.index("-d") + 1]
    url = next(word for word in words if word.startswith("http://127.0.0.1:8000/"))
    return url.removeprefix("http://127.0.0.1:8000"), body


@pytest.mark.django_db
def test_readme_curl_stores_a_read_with_the_demo_key():
    printed = io.StringIO()
    call_command("demo_data", events=0, stdout=printed)
    device = re.search(r"KEY=anprd_\.\.\.\s+# the (\S+) key", README).group(1)
    key = re.search(rf"Device {device} key \(shown once\): (\S+)", printed.getvalue()).group(1)
    path, body = _readme_curl()
    body = body.replace("NOW", timezone.now().strftime("%Y-%m-%dT%H:%M:%SZ"))

    answer = Client().post(
        path, body, content_type="application/json", HTTP_AUTHORIZATION=f"Token {key}"
    )

    assert answer.status_code == 201, answer.content
    assert answer.json()["status"] == "created"


def test_readme_links_and_pictures_exist():
    targets = re.findall(r"\]\(((?:docs/)[^)#]+)", README)
    assert any(target.endswith(".png") for target in targets)
    missing = [t for t in targets if not (ROOT / t).exists() and not t.endswith(".png")]
    assert missing == []
    for page in sorted((ROOT / "docs").glob("*.md")):
        for target in re.findall(r"\]\(([^)#:]+\.md)", page.read_text()):
            assert (page.parent / target).exists(), f"{page.name} links to missing {target}"
