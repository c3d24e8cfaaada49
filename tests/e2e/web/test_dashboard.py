"""The dashboard in a real browser (Debian's chromium, driven by Playwright)
against the whole local stack, as its users meet it: sign in through the
Hosted UI with PKCE; upload, watch, open, download and delete; refusals before
any bytes move; a multipart upload that survives a reload; cancel; a phone-sized
screen. No page may log a console error, and the main screens are saved as
screenshots (`.local/screenshots/`)."""

import io
import json
import os
import shutil
from pathlib import Path

import pyarrow
import pytest
import requests
from PIL import Image
from playwright.sync_api import expect

from contract.http import MAX_FILE_SIZE
from contract.outputs import DashboardConfig
from tests.extractors import files

from .conftest import QUOTA_BYTES

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
SCREENSHOTS = Path(__file__).resolve().parents[3] / ".local" / "screenshots"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
MiB = 1024 * 1024
MULTIPART = 17 * MiB  # over the 16 MiB threshold: four parts of 5, 5, 5 and 2 MiB
PROCESSING_S = 45

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
def console_errors():
    """What the page logged as errors; a test that provokes one takes it out."""
    return []


@pytest.fixture
def page(browser, stack, console_errors):
    context = browser.new_context(accept_downloads=True, viewport=DESKTOP)
    page = context.new_page()
    page.on("pageerror", lambda error: console_errors.append(str(error)))
    page.on("console", lambda message: message.type == "error" and console_errors.append(message.text))
    yield page
    context.close()
    assert not console_errors, f"the console showed errors: {console_errors}"


def sign_in(page, stack):
    page.goto(stack.outputs["webUrl"])
    page.click("#sign-in")
    page.wait_for_url(f"{stack.outputs['hostedUiUrl']}/**")
    page.fill("input[name=username]", stack.outputs["demoUser"]["username"])
    page.fill("input[name=password]", stack.outputs["demoUser"]["password"])
    page.click("button[type=submit]")
    page.wait_for_selector("#signed-in:not([hidden])")


def api(page, stack, method, path):
    """The API as the signed-in page calls it, with the page's own token."""
    tokens = json.loads(page.evaluate("sessionStorage.getItem('uploads.tokens')"))
    return requests.request(method, stack.outputs["apiUrl"] + path, timeout=10,
                            headers={"Authorization": f"Bearer {tokens['accessToken']}"})


def png(width=64, height=48) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), "orange").save(buffer, "PNG")
    return buffer.getvalue()


def row(page, filename):
    return page.locator("#files li.file-row", has=page.locator("button.open", has_text=filename))


def wait_for_status(page, filename, status):
    row(page, filename).locator(f".status.{status}").wait_for(timeout=PROCESSING_S * 1000)


def loaded(image) -> bool:
    """Whether an <img> shows its picture, once it has finished loading or failing
    (a broken image is `complete` with no width)."""
    return image.evaluate("""img => img.complete ? img.naturalWidth > 0 : new Promise((resolve) => {
        img.addEventListener('load', () => resolve(img.naturalWidth > 0));
        img.addEventListener('error', () => resolve(false));
    })""")


def screenshot(page, name, full_page=True):
    # A panel open over the page is shot as the screen shows it.
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=full_page)


def wider_than_the_viewport(page) -> list[str]:
    return page.evaluate("""() => [...document.querySelectorAll('body *')]
        .filter((e) => e.getClientRects().length && e.getBoundingClientRect().right > window.innerWidth + 0.5)
        .map((e) => e.id || e.className || e.tagName)""")


def resumable_upload(page) -> dict:
    page.wait_for_function("() => JSON.parse(localStorage.getItem('uploads.resumable') || '[]').length > 0")
    return json.loads(page.evaluate("localStorage.getItem('uploads.resumable')"))[0]


def throttle_uploads(page, bytes_per_second):
    """Chromium's own network throttling (DevTools' Network.emulateNetworkConditions),
    so an upload lasts long enough for the dashboard to measure its speed."""
    devtools = page.context.new_cdp_session(page)
    devtools.send("Network.enable")
    devtools.send("Network.emulateNetworkConditions", {"offline": False, "latency": 0, "downloadThroughput": -1,
                                                       "uploadThroughput": bytes_per_second})
    return devtools


def hold_parts(page, numbers):
    """Part PUTs with these numbers never reach S3 while held: an upload stays in the middle."""
    held = []

    def handle(route):
        request = route.request
        number = int(request.url.split("partNumber=")[1].split("&")[0])
        if request.method == "PUT" and number in numbers:
            held.append(route)
        else:
            route.continue_()

    page.route(lambda url: "partNumber=" in url, handle)
    return held


def test_config_json_has_what_the_dashboard_reads(stack):
    config = requests.get(stack.outputs["webUrl"] + "config.json", timeout=10).json()
    assert set(config) == set(DashboardConfig.keys())
    assert config["cognitoDomain"] == stack.outputs["hostedUiUrl"]


def test_the_sign_in_page_shows_the_local_demo_user_and_refuses_a_wrong_password(page, stack):
    page.goto(stack.outputs["webUrl"])
    page.wait_for_selector("#signed-out:not([hidden])")
    assert not page.is_visible("#session") and not page.is_visible("#sign-out")
    screenshot(page, "signed-out")
    page.click("#sign-in")
    demo = page.locator("aside.demo").text_content()
    screenshot(page, "sign-in")
    assert stack.outputs["demoUser"]["username"] in demo and stack.outputs["demoUser"]["password"] in demo
    page.fill("input[name=username]", stack.outputs["demoUser"]["username"])
    page.fill("input[name=password]", "not-the-password")
    page.click("button[type=submit]")
    assert "Incorrect username or password." in page.content()


def test_upload_watch_open_download_and_delete(page, stack, tmp_path):
    sign_in(page, stack)
    assert page.text_content("#user") == stack.outputs["demoUser"]["username"]
    assert page.get_attribute("#announcer", "aria-live") == "polite"
    page.locator("#empty").wait_for()
    screenshot(page, "empty")

    photo = tmp_path / "holiday photo.png"
    photo.write_bytes(png(640, 480))
    notes = tmp_path / "notes.txt"
    notes.write_bytes(b"first line\nsecond line\nthird line\n")
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(MULTIPART))
    fake = tmp_path / "fake.png"
    fake.write_bytes(b"<!doctype html><html><script>alert(1)</script></html>")
    throttling = throttle_uploads(page, 8 * MiB)  # about two seconds for big.bin
    page.set_input_files("#picker", [str(photo), str(notes), str(big), str(fake)])
    page.locator("#uploads .upload-stats", has_text="/s").first.wait_for()  # speed and time left
    assert "left" in page.locator("#uploads .upload-stats", has_text="/s").first.text_content()
    screenshot(page, "uploading")
    throttling.detach()

    for name, status in (("holiday photo.png", "processed"), ("notes.txt", "processed"), ("big.bin", "processed"),
                         ("fake.png", "failed")):
        wait_for_status(page, name, status)
    assert "PNG 640×480" in row(page, "holiday photo.png").locator(".summary").text_content()
    assert loaded(row(page, "holiday photo.png").locator(".thumb img"))
    assert ("ago" in row(page, "notes.txt").locator("time").text_content()
            or "just now" in row(page, "notes.txt").locator("time").text_content())
    assert row(page, "notes.txt").locator("time").get_attribute("title")
    assert "could run in a viewer" in row(page, "fake.png").locator(".reason").text_content()
    # This stack does not scan: its files say so, never "Clean", and download as before.
    assert row(page, "notes.txt").locator(".scan").text_content() == "Not scanned"
    assert row(page, "notes.txt").get_by_role("button", name="Download notes.txt").is_enabled()
    screenshot(page, "files")

    # The details, opened from the keyboard: every field by kind, the preview, the checksum.
    row(page, "holiday photo.png").locator("button.open").focus()
    page.keyboard.press("Enter")
    panel = page.locator("#details")
    panel.wait_for()
    assert page.evaluate("document.activeElement.id") == "details-close"
    assert loaded(panel.locator(".preview.large img"))
    text = panel.text_content()
    for expected in ("640 × 480 px", "PNG", "RGB", "image/png", "SHA-256"):
        assert expected in text, expected
    assert "not recorded" not in text, "the dashboard always sends the SHA-256"
    screenshot(page, "details", full_page=False)
    page.keyboard.press("Escape")
    panel.wait_for(state="hidden")
    # The dialog's `close` event, which moves focus back, fires a task after it hides.
    # Playwright's own polling: wait_for_function would eval a string, which the page's CSP forbids.
    expect(page.locator(":focus")).to_have_text("holiday photo.png", timeout=5000)

    row(page, "fake.png").locator("button.open").click()
    assert "type_mismatch" in panel.text_content() and "could run in a viewer" in panel.text_content()
    page.click("#details-close")
    row(page, "big.bin").locator("button.open").click()
    assert "composite of 4 parts" in panel.text_content()
    page.click("#details-close")

    with page.expect_download() as download:
        row(page, "holiday photo.png").get_by_role("button", name="Download holiday photo.png").click()
    assert download.value.suggested_filename == "holiday photo.png"
    assert Path(download.value.path()).read_bytes() == photo.read_bytes()

    row(page, "big.bin").locator("button.open").click()
    page.click("#details-delete")
    page.locator("#confirm").wait_for()
    page.click("#confirm-yes")
    row(page, "big.bin").wait_for(state="detached")
    assert "big.bin was deleted" in page.text_content("#announcer")
    page.click("#refresh")
    row(page, "notes.txt").wait_for()
    assert row(page, "big.bin").count() == 0


def column_rows(panel) -> list[list[str]]:
    return [cells.locator("td").all_text_contents() for cells in panel.locator("table.columns tbody tr").all()]


def test_the_details_show_column_types_as_a_small_table(page, stack, tmp_path):
    sign_in(page, stack)
    sales = tmp_path / "sales.csv"
    sales.write_bytes(b"day,amount,note\r\n2024-05-17,12.50,\r\n2024-05-18,7,late\r\n")
    events = tmp_path / "events.jsonl"
    events.write_bytes(b'{"id": 1, "ok": true}\n{"id": 2, "ok": null}\n{"id": 3}\n')
    table = tmp_path / "table.parquet"
    table.write_bytes(files.parquet(pyarrow.table({"id": pyarrow.array([1, 2], pyarrow.int64()),
                                                   "name": pyarrow.array(["a", None])})))
    page.set_input_files("#picker", [str(sales), str(events), str(table)])
    for name in ("sales.csv", "events.jsonl", "table.parquet"):
        wait_for_status(page, name, "processed")
    assert "2 rows × 3 columns" in row(page, "sales.csv").locator(".summary").text_content()
    assert "3 records" in row(page, "events.jsonl").locator(".summary").text_content()
    assert "2 rows × 2 columns" in row(page, "table.parquet").locator(".summary").text_content()

    panel = page.locator("#details")
    row(page, "sales.csv").locator("button.open").click()
    assert column_rows(panel) == [["day", "date", "0"], ["amount", "number", "0"], ["note", "string", "1"]]
    assert panel.locator("table.columns caption").text_content() == "Inferred from all 2 rows."
    screenshot(page, "details-column-types", full_page=False)
    page.click("#details-close")
    row(page, "events.jsonl").locator("button.open").click()
    assert column_rows(panel) == [["id", "integer", "3", "0"], ["ok", "boolean", "2", "1"]]
    page.click("#details-close")
    row(page, "table.parquet").locator("button.open").click()
    assert column_rows(panel) == [["id", "INT64", "INT64", "yes"], ["name", "STRING", "BYTE_ARRAY", "yes"]]
    assert "parquet-cpp-arrow" in panel.text_content()
    page.click("#details-close")


def sparse_file(path: Path, size: int) -> Path:
    with path.open("wb") as sparse:
        sparse.truncate(size)
    return path


def test_files_dropped_on_the_drop_zone_are_uploaded(page, stack):
    sign_in(page, stack)
    # Files built in the page, dropped as a person drops them (Playwright's own recipe for file drops).
    transfer = page.evaluate_handle("""() => {
        const transfer = new DataTransfer();
        transfer.items.add(new File(["dropped\\ntext\\n"], "dropped.txt", { type: "text/plain" }));
        transfer.items.add(new File([JSON.stringify({ rows: [1, 2, 3] })], \
"dropped.json", { type: "application/json" }));
        return transfer;
    }""")
    page.dispatch_event("#drop", "dragover", {"dataTransfer": transfer})
    assert "over" in page.get_attribute("#drop", "class")
    page.dispatch_event("#drop", "drop", {"dataTransfer": transfer})
    assert "over" not in page.get_attribute("#drop", "class")
    wait_for_status(page, "dropped.txt", "processed")
    wait_for_status(page, "dropped.json", "processed")
    assert "2 lines" in row(page, "dropped.txt").locator(".summary").text_content()


def test_files_that_cannot_go_are_refused_before_any_bytes_move(page, stack, tmp_path):
    sign_in(page, stack)
    page.locator("#usage").wait_for()
    assert "of 64 MB used" in page.text_content("#usage-text")
    huge = sparse_file(tmp_path / "huge.bin", MAX_FILE_SIZE + 1024 * MiB)
    over_quota = sparse_file(tmp_path / "over quota.bin", QUOTA_BYTES + MiB)
    page_html = tmp_path / "page.html"
    page_html.write_text("<!doctype html><p>hi</p>")
    sent = []
    page.on("request", lambda request: request.method in ("POST", "PUT") and sent.append(request.url))
    page.set_input_files("#picker", [str(huge), str(over_quota), str(page_html)])
    message = page.locator("#message-text")
    message.wait_for()
    assert "huge.bin is 6.0 GB, over the 5.0 GB limit for one file" in message.text_content()
    assert "over quota.bin (65 MB) does not fit: only" in message.text_content()
    assert "page.html is text/html" in message.text_content()
    assert sent == []


def test_a_multipart_upload_resumes_after_a_reload_sending_only_the_missing_parts(page, stack, tmp_path):
    sign_in(page, stack)
    data = os.urandom(MULTIPART)
    resumed = tmp_path / "resumed.bin"
    resumed.write_bytes(data)
    held = hold_parts(page, {3, 4})
    page.set_input_files("#picker", str(resumed))
    upload = resumable_upload(page)
    for _ in range(100):
        if len(api(page, stack, "GET", f"/uploads/{upload['fileId']}/parts").json()["parts"]) == 2:
            break
        page.wait_for_timeout(100)
    assert len(held) == 2

    page.reload()
    page.unroute_all(behavior="ignoreErrors")
    paused = page.locator("#uploads li[data-state=paused]")
    paused.wait_for()
    assert "2 of 4 parts" in paused.text_content()
    screenshot(page, "paused")

    parts_sent = []
    page.on("request", lambda request: request.method == "PUT" and "partNumber=" in request.url
            and parts_sent.append(int(request.url.split("partNumber=")[1].split("&")[0])))
    page.set_input_files("#picker", str(resumed))
    wait_for_status(page, "resumed.bin", "processed")
    assert sorted(parts_sent) == [3, 4]
    link = api(page, stack, "POST", f"/files/{upload['fileId']}/download").json()
    assert requests.get(link["url"], timeout=30).content == data
    assert page.evaluate("localStorage.getItem('uploads.resumable')") == "[]"


def test_a_failed_upload_says_why_and_retry_finishes_it(page, stack, tmp_path, console_errors):
    sign_in(page, stack)
    flaky = tmp_path / "flaky.bin"
    flaky.write_bytes(os.urandom(MULTIPART))
    refusal = ("<Error><Code>BadDigest</Code><Message>The SHA-256 you specified did not match the calculated checksum."
               "</Message></Error>")
    refused = []

    def refuse_part_2_once(route):
        if route.request.method == "PUT" and "partNumber=2&" in route.request.url + "&" and not refused:
            refused.append(route.request.url)
            route.fulfill(status=400, body=refusal,
                          headers={"Access-Control-Allow-Origin": "*", "Content-Type": "application/xml"})
        else:
            route.continue_()

    page.route(lambda url: "partNumber=" in url, refuse_part_2_once)
    page.set_input_files("#picker", str(flaky))
    failed = page.locator("#uploads li[data-state=failed]")
    failed.wait_for()
    assert "S3 refused part 2: The SHA-256 you specified did not match" in failed.text_content()
    console_errors[:] = [e for e in console_errors if "status of 400" not in e]
    page.get_by_role("button", name="Retry the upload of flaky.bin").click()
    wait_for_status(page, "flaky.bin", "processed")
    page.unroute_all(behavior="ignoreErrors")


def test_cancel_aborts_the_upload_on_the_server(page, stack, tmp_path):
    sign_in(page, stack)
    doomed = tmp_path / "doomed.bin"
    doomed.write_bytes(os.urandom(MULTIPART))
    hold_parts(page, {1, 2, 3, 4})
    page.set_input_files("#picker", str(doomed))
    upload = resumable_upload(page)
    page.get_by_role("button", name="Cancel the upload of doomed.bin").click()
    page.locator("#uploads li[data-state=cancelled]").wait_for()
    page.unroute_all(behavior="ignoreErrors")
    assert api(page, stack, "GET", f"/files/{upload['fileId']}").status_code == 404
    uploads = stack.client("s3").list_multipart_uploads(Bucket=stack.outputs["bucketName"]).get("Uploads", [])
    assert upload["uploadId"] not in [u["UploadId"] for u in uploads]
    assert "cancelled" in page.text_content("#announcer")


def test_on_a_phone_the_files_are_cards_and_nothing_scrolls_sideways(page, stack, tmp_path):
    page.set_viewport_size(PHONE)
    sign_in(page, stack)
    photo = tmp_path / "phone photo.png"
    photo.write_bytes(png())
    page.set_input_files("#picker", str(photo))
    wait_for_status(page, "phone photo.png", "processed")
    assert wider_than_the_viewport(page) == []
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    assert row(page, "phone photo.png").evaluate("li => getComputedStyle(li).borderRadius") != "0px"
    screenshot(page, "phone-files")
    row(page, "phone photo.png").locator("button.open").click()
    assert loaded(page.locator("#details .preview.large img"))
    assert wider_than_the_viewport(page) == []
    screenshot(page, "phone-details", full_page=False)


def test_sign_out_returns_to_the_signed_out_page(page, stack):
    sign_in(page, stack)
    page.click("#sign-out")
    page.wait_for_selector("#signed-out:not([hidden])")
    assert not page.is_visible("#sign-out")
