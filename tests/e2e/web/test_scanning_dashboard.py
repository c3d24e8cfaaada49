"""The dashboard on a stack that scans (GuardDuty emulated with clamd): the
scan state beside the processing state, Download disabled until clean, and
blocked files explained in words."""

from __future__ import annotations

import pytest

from local.guardduty import EICAR, clamd_installed
from local.stack import LocalStack

# The dashboard tests' browser and page, on this module's stack.
from .test_dashboard import PROCESSING_S, browser, console_errors, page, row, sign_in  # noqa: F401

pytestmark = pytest.mark.skipif(not clamd_installed(), reason="clamd is not installed (apt-get install clamav-daemon)")


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    with LocalStack(state_dir=tmp_path_factory.mktemp("web-scan"), moto_port=0, malware_scan=True) as running:
        yield running


def test_blocked_files_are_explained_and_only_clean_ones_download(page, stack, tmp_path):  # noqa: F811
    sign_in(page, stack)
    eicar, notes = tmp_path / "eicar.com", tmp_path / "notes.txt"
    eicar.write_bytes(EICAR)
    notes.write_bytes(b"nothing to see\n")
    page.set_input_files("#picker", [str(eicar), str(notes)])

    blocked = row(page, "eicar.com")
    blocked.locator(".scan-infected").wait_for(timeout=PROCESSING_S * 1000)
    assert blocked.locator(".scan").text_content() == "Blocked: malware found (Eicar-Test-Signature)"
    assert "cannot be downloaded" in blocked.locator(".status-cell").text_content()
    assert blocked.get_by_role("button", name="Download eicar.com").is_disabled()

    clean = row(page, "notes.txt")
    clean.locator(".scan-clean").wait_for(timeout=PROCESSING_S * 1000)
    clean.locator(".status.processed").wait_for(timeout=PROCESSING_S * 1000)
    assert clean.locator(".scan").text_content() == "Clean"
    assert clean.get_by_role("button", name="Download notes.txt").is_enabled()

    blocked.locator("button.open").click()
    details = page.locator("#details-body")
    details.get_by_text("Why blocked").wait_for()
    assert "Blocked: malware found" in details.text_content()
    assert page.locator("#details-download").is_disabled()
