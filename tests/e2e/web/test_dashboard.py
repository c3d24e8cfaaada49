"""The dashboard in a real browser (Debian's chromium, driven by Playwright)
against the whole local stack: sign in through the Hosted UI with PKCE, upload
by presigned POST and by multipart, watch the status change, download, delete."""

import io
import os
import shutil

import pytest
from PIL import Image

from contract.outputs import DashboardConfig

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]

pytestmark = pytest.mark.skipif(not shutil.which(CHROMIUM), reason="Debian's chromium is not installed "
                                "(apt-get install -y chromium; .ci/run does this)")


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield instance
        instance.close()


@pytest.fixture
def page(browser, stack):
    context = browser.new_context(accept_downloads=True)
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda message: message.type == "error" and errors.append(message.text))
    yield page
    context.close()
    assert not [e for e in errors if "Content Security Policy" in e], errors


def sign_in(page, stack):
    page.goto(stack.outputs["webUrl"])
    page.click("#sign-in")
    page.wait_for_url(f"{stack.outputs['hostedUiUrl']}/**")
    page.fill("input[name=username]", stack.outputs["demoUser"]["username"])
    page.fill("input[name=password]", stack.outputs["demoUser"]["password"])
    page.click("button[type=submit]")
    page.wait_for_selector("#signed-in:not([hidden])")


def png(width=64, height=48) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), "orange").save(buffer, "PNG")
    return buffer.getvalue()


def row(page, filename):
    return page.locator("#files tbody tr", has=page.locator("td.name", has_text=filename))


def test_config_json_has_what_the_dashboard_reads(stack):
    import requests

    config = requests.get(stack.outputs["webUrl"] + "config.json", timeout=10).json()
    assert set(config) == set(DashboardConfig.keys())
    assert config["cognitoDomain"] == stack.outputs["hostedUiUrl"]


def test_a_wrong_password_is_refused_by_the_hosted_ui(page, stack):
    page.goto(stack.outputs["webUrl"])
    page.wait_for_selector("#signed-out:not([hidden])")
    assert not page.is_visible("#session") and not page.is_visible("#sign-out")
    page.click("#sign-in")
    page.fill("input[name=username]", stack.outputs["demoUser"]["username"])
    page.fill("input[name=password]", "not-the-password")
    page.click("button[type=submit]")
    assert "Incorrect username or password." in page.content()


def test_upload_watch_download_and_delete(page, stack, tmp_path):
    sign_in(page, stack)
    assert page.text_content("#user") == stack.outputs["demoUser"]["username"]

    photo = tmp_path / "holiday photo.png"
    photo.write_bytes(png())
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(17 * 1024 * 1024))  # over the multipart threshold
    fake = tmp_path / "fake.png"
    fake.write_bytes(b"<!doctype html><html><script>alert(1)</script></html>")
    page.set_input_files("#picker", [str(photo), str(big), str(fake)])

    for name, status in (("holiday photo.png", "processed"), ("big.bin", "processed"), ("fake.png", "failed")):
        row(page, name).locator(f".status.{status}").wait_for(timeout=30_000)
    assert "PNG 64×48" in row(page, "holiday photo.png").locator("td.details").text_content()
    assert row(page, "fake.png").locator(".reason").text_content()
    page.screenshot(path=str(tmp_path / "dashboard.png"), full_page=True)

    with page.expect_download() as download:
        row(page, "holiday photo.png").get_by_role("button", name="Download").click()
    assert download.value.suggested_filename == "holiday photo.png"
    assert open(download.value.path(), "rb").read() == photo.read_bytes()

    page.once("dialog", lambda dialog: dialog.accept())
    row(page, "big.bin").get_by_role("button", name="Delete").click()
    row(page, "big.bin").wait_for(state="detached")
    page.click("#refresh")
    page.wait_for_selector("#files tbody tr")
    assert row(page, "big.bin").count() == 0


def test_sign_out_returns_to_the_signed_out_page(page, stack):
    sign_in(page, stack)
    page.click("#sign-out")
    page.wait_for_selector("#signed-out:not([hidden])")
    assert not page.is_visible("#sign-out")
