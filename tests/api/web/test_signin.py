"""Sessions in the browser: sign-in, the header, sign-out, the language switch, CSRF."""

from __future__ import annotations

from selenium.webdriver.common.by import By

from tests.api.web.conftest import click_through, shot, sign_in


def test_a_page_without_a_session_goes_to_sign_in_and_back(browser, live):
    browser.get(live.at("/password"))
    assert browser.current_url.startswith(live.at("/?next="))
    assert browser.find_element(By.TAG_NAME, "html").get_attribute("lang") == "zh-CN"
    assert browser.find_element(By.TAG_NAME, "h1").text == "登录"
    assert browser.find_element(By.CSS_SELECTOR, "label[for=username]").text == "用户名"
    shot(browser, "signin-zh")


def test_signing_in_shows_who_and_a_cookie_scripts_cannot_read(browser, live):
    sign_in(browser, live, "rev1")
    browser.get(live.at("/password"))
    assert browser.find_element(By.CSS_SELECTOR, "[data-testid=user]").text == "rev1"
    assert browser.find_element(By.CSS_SELECTOR, "[data-testid=roles]").text == "案件审核人员"
    assert browser.find_element(By.CSS_SELECTOR, "[data-testid=unit]").text == "U1"
    cookie = browser.get_cookie("evidence_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    assert "evidence_session" not in browser.execute_script("return document.cookie")


def test_a_wrong_password_is_refused_on_the_form(browser, live):
    sign_in_page = live.at("/")
    browser.get(sign_in_page)
    browser.find_element(By.NAME, "username").send_keys("rev1")
    browser.find_element(By.NAME, "password").send_keys("not the password")
    click_through(browser, browser.find_element(By.CSS_SELECTOR, "form button[type=submit]"))
    assert browser.find_element(By.CSS_SELECTOR, "[role=alert]").text.startswith("用户名或密码错误")
    assert browser.get_cookie("evidence_session") is None


def test_signing_out_revokes_the_session(browser, live):
    sign_in(browser, live, "aud")
    browser.get(live.at("/password"))
    token = browser.get_cookie("evidence_session")["value"]
    click_through(browser, browser.find_element(By.CSS_SELECTOR, "form[action='/signout'] button"))
    assert browser.find_element(By.TAG_NAME, "h1").text == "登录"
    client = live.world["clients"]["aud"]
    revoked = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert revoked.status_code == 401


def test_the_language_switch_is_remembered(browser, live):
    sign_in(browser, live, "rev1")
    browser.get(live.at("/password"))
    click_through(browser, browser.find_element(By.CSS_SELECTOR, "a[hreflang=en]"))
    assert browser.find_element(By.TAG_NAME, "html").get_attribute("lang") == "en"
    assert browser.find_element(By.CSS_SELECTOR, "[data-testid=roles]").text == "Case reviewer"
    browser.get(live.at("/password"))
    assert browser.find_element(By.TAG_NAME, "html").get_attribute("lang") == "en"
    assert browser.find_element(By.TAG_NAME, "h1").text == "Choose your password"
    shot(browser, "password-en")
