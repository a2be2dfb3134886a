"""Every string of the pages goes through the catalogues, and zh-CN translates each one."""

from __future__ import annotations

from api.web import catalog, i18n


def test_every_message_of_the_pages_has_a_chinese_translation():
    messages = catalog.extracted()
    assert "Sign in" in messages and "Search" in messages  # templates and code both extracted
    assert catalog.untranslated("zh_CN", messages) == []  # fix: python -m api.web.catalog, then translate


def test_the_catalogue_compiles_and_english_is_the_message_itself():
    assert i18n.translations("zh-CN").gettext("Sign in") == "登录"
    assert i18n.translations("en").gettext("Sign in") == "Sign in"
