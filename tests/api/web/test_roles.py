"""Each role, signed in through the browser: the pages it is offered, and only those; every control on
them labelled; no English left on a Chinese page's headings, labels and buttons."""

from __future__ import annotations

import re

import pytest
from selenium.webdriver.common.by import By

from tests.api.web.conftest import sign_in

NAV = {
    "off1": ["/mine"],
    "rev1": ["/items", "/cases"],
    "sup1": ["/items", "/cases", "/audit"],
    "aud": ["/items", "/cases", "/audit"],
    "adm": ["/admin"],
}
HOME = {"off1": "/mine", "rev1": "/items", "sup1": "/items", "aud": "/audit", "adm": "/admin"}
# pages not offered to a role that refuse it when it asks anyway. The list pages not offered answer
# with only what the role may see: an officer's search finds their own recordings and no cases, an
# administrator's none, and /mine lists nobody's recordings but the reader's own.
REFUSED = {
    "off1": ["/audit", "/admin"],
    "rev1": ["/audit", "/admin"],
    "sup1": ["/admin"],
    "aud": ["/admin"],
    "adm": ["/audit"],
}
# Latin words that are names, not text to translate
NOT_ENGLISH = {"SHA", "CSV", "English", "ID", "MB", "GB", "KB", "JSON", "URL"}

UNLABELLED = """
return [...document.querySelectorAll('input:not([type=hidden]), select, textarea')]
  .filter(el => el.offsetParent !== null || el.closest('details'))
  .filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label')
                && !el.getAttribute('aria-labelledby') && !el.title)
  .map(el => el.outerHTML.slice(0, 120));
"""


def _english(text: str) -> list[str]:
    data = re.sub(r"[A-Za-z_]+/[A-Za-z_]+|[A-Z]+[0-9]+", "", text)  # a time zone, a recorder serial
    return [w for w in re.findall(r"[A-Za-z]{3,}", data) if w not in NOT_ENGLISH]


@pytest.mark.parametrize("name", sorted(NAV))
def test_each_role_sees_its_pages_only_all_labelled_and_in_chinese(browser, live, name):
    sign_in(browser, live, name)
    assert browser.current_url == live.at(HOME[name])  # each role lands on its own page
    offered = [a.get_attribute("href") for a in browser.find_elements(By.CSS_SELECTOR, "header nav a")]
    assert offered == [live.at(p) for p in NAV[name]]
    for path in NAV[name]:
        browser.get(live.at(path))
        assert browser.find_element(By.TAG_NAME, "html").get_attribute("lang") == "zh-CN"
        assert browser.execute_script(UNLABELLED) == [], f"{path}: controls without a label"
        for el in browser.find_elements(By.CSS_SELECTOR, "h1, h2, h3, label, button, th, legend, nav a"):
            assert _english(el.text) == [], f"{path}: untranslated {el.tag_name} {el.text!r}"
    for path in REFUSED[name]:
        browser.get(live.at(path))
        heading = browser.find_element(By.TAG_NAME, "h1").text
        assert heading in ("无权操作", "未找到"), f"{name} got {path}: {heading}"
