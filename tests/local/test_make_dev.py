"""`make dev` as a developer runs it: `python -m local` comes up, writes the
stack file, and Ctrl-C stops every process it started."""

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from contract.outputs import LocalOutputs
from tests.local.stack_helpers import wait_for

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def dev(tmp_path):
    process = subprocess.Popen(
        [sys.executable, "-m", "local", "--moto-port", "0", "--aws-port", "0", "--api-port", "0", "--web-port", "0",
         "--sign-in-port", "0", "--s3-port", "0", "--inbox-port", "0"],
        cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        # Its own process group, as a terminal's job: Ctrl-C signals the whole group.
        start_new_session=True,
    )
    yield process, tmp_path / ".local" / "stack.json"
    if process.poll() is None:
        process.kill()


def test_ctrl_c_stops_everything_cleanly(dev):
    process, stack_file = dev
    wait_for(stack_file.exists, 60)
    outputs = json.loads(stack_file.read_text())
    assert set(outputs) == set(LocalOutputs.keys())
    children = psutil.Process(process.pid).children(recursive=True)
    assert children, "moto and the execution environments run as child processes"

    os.killpg(process.pid, signal.SIGINT)
    # Within a few seconds and quietly: every piece stops in order, none fails on a vanished one.
    output, _ = process.communicate(timeout=15)
    assert process.returncode == 0, output
    assert "Dashboard" in output and "Stopped." in output
    assert re.search(r"webhook inbox +http://127\.0\.0\.1:\d+", output), output
    assert "Traceback" not in output, output
    assert not stack_file.exists()
    # multiprocessing's resource tracker leaves when its pipe closes, a moment later.
    _, alive = psutil.wait_procs(children, timeout=5)
    assert not alive, [c.cmdline() for c in alive]
