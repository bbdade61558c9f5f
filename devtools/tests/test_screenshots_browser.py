"""`manage.py screenshots` still photographs every registered operators' page: the command the
documentation's pictures come from (run by hand when a page changes), here into tmp_path.

Run with `pytest -m browser`.
"""

import shutil
from io import StringIO

import pytest
from django.core.management import call_command
from PIL import Image

from conftest import require_service
from devtools.screenshots import CHROMIUM, screenshot_pages

pytestmark = pytest.mark.browser


def test_screenshots_writes_a_picture_of_every_registered_page(tmp_path):
    if not shutil.which(CHROMIUM):
        require_service("Chromium", f"{CHROMIUM} is not installed (apt-get install chromium)")
    pages = screenshot_pages()
    assert "live-map.png" in [page.filename for page in pages]

    call_command("screenshots", output=tmp_path, dark=True, stdout=StringIO())

    expected = {page.filename for page in pages}
    expected |= {name.replace(".png", "-dark.png") for name in expected}
    assert {path.name for path in tmp_path.iterdir()} == expected
    for name in expected:
        with Image.open(tmp_path / name) as picture:
            assert picture.size == (1280, 800), name
            # A drawn page, not a blank or an error page: many colours, and small enough.
            colours = picture.convert("RGB").getcolors(maxcolors=1_000_000)
            assert len(colours) > 50, name
        assert 10_000 < (tmp_path / name).stat().st_size < 400_000, name
