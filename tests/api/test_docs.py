"""/docs and /redoc work without internet: every asset they reference comes from the server itself."""

from __future__ import annotations

import re
from urllib.parse import urljoin, urlsplit

import pytest
from fastapi.testclient import TestClient

from api.app import create_app

REFERENCE = re.compile(r"""(?:src|href|spec-url)\s*=\s*["']([^"']+)["']|url:\s*'([^']+)'""")
CSS_URL = re.compile(r"""url\(\s*["']?([^"')]+)""")


def references(text: str) -> list[str]:
    return [a or b for a, b in REFERENCE.findall(text)]


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_docs_pages_load_everything_from_the_server_itself(make_settings, page):
    client = TestClient(create_app(make_settings()))
    r = client.get(page)
    assert r.status_code == 200
    assert "http://" not in r.text and "https://" not in r.text, "the page points elsewhere"
    refs = references(r.text)
    assert any(ref.endswith(".js") for ref in refs) and "/openapi.json" in refs
    for ref in refs:
        assert not urlsplit(ref).scheme and not urlsplit(ref).netloc, ref
        asset = client.get(urljoin(page, ref))
        assert asset.status_code == 200 and asset.content, ref
        if ref.endswith(".css"):
            for inner in CSS_URL.findall(asset.text):
                assert inner.startswith("data:"), f"{ref} loads {inner[:60]}"


def test_swagger_ui_asks_no_online_validator(make_settings):
    page = TestClient(create_app(make_settings())).get("/docs").text
    assert '"validatorUrl": null' in page
