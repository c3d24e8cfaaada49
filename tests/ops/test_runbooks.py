"""The runbooks stay usable: every alarm the Pulumi program creates links a
section that exists and says what on-call needs, and every `ops` command in
them parses with the CLI as it is now."""

import json
import re
import shlex
from pathlib import Path

import pulumi
import pytest

from contract import permissions
from contract.ingest import INGEST
from contract.names import PROJECT, Names
from ops.__main__ import build_parser

ROOT = Path(__file__).resolve().parents[2]
RUNBOOKS = ROOT / "docs" / "runbooks.md"
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
# What each alarm's section must tell on-call.
PARTS = ("**Means:**", "**User impact:**", "**First checks:**", "**Likely causes:**", "**Fix:**", "**Escalate:**")
# `python -m ops ...` (any interpreter path) or `make ops ARGS="..."`, inside backticks or code blocks.
COMMAND = re.compile(r"""(?:\S*python3? -m ops\b(?P<cli>[^`\n]*))|(?:make ops ARGS="(?P<make>[^"]*)")""")


class AlarmRecorder(pulumi.runtime.Mocks):
    def __init__(self) -> None:
        self.descriptions: dict[str, str] = {}

    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        if args.typ == ALARM:
            self.descriptions[args.inputs["name"]] = args.inputs["alarmDescription"]
        return [f"{args.name}-id", {**args.inputs, "arn": f"arn:aws:mock:::{args.name}"}]

    def call(self, args: pulumi.runtime.MockCallArgs):
        return {}


@pytest.fixture(scope="module")
def alarm_descriptions() -> dict[str, str]:
    """The alarms as the program declares them for a stack that scans and
    delivers webhooks (so every alarm there is), built under Pulumi's mocks."""
    recorder = AlarmRecorder()
    pulumi.runtime.set_mocks(recorder, project=PROJECT, stack="runbooks", preview=False)
    from components.alarms import OnCallAlarms, OnCallAlarmsArgs

    @pulumi.runtime.test
    def build():
        alarms = OnCallAlarms("alarms", OnCallAlarmsArgs(
            names=Names("runbooks"), ingest=INGEST, region="us-east-1", api_id="api",
            subscriptions=[], malware_scan=True, webhooks=True))
        return alarms.monitoring_url

    build()
    return recorder.descriptions


def sections() -> dict[str, str]:
    """Level-two sections by their GitHub anchor."""
    found = {}
    for chunk in re.split(r"^## ", RUNBOOKS.read_text(), flags=re.M)[1:]:
        title, _, body = chunk.partition("\n")
        anchor = re.sub(r"[^\w\- ]", "", title.strip().lower()).replace(" ", "-")
        found[anchor] = body
    return found


def test_alarms_are_declared_only_by_the_alarms_component():
    declaring = {path.relative_to(ROOT).as_posix() for path in [*ROOT.glob("components/**/*.py"), ROOT / "__main__.py"]
                 if "MetricAlarm(" in path.read_text()}
    assert declaring == {"components/alarms.py"}


def test_every_alarm_links_a_runbook_section_that_says_what_on_call_needs(alarm_descriptions):
    assert len(alarm_descriptions) >= 10
    runbooks = sections()
    for name, description in alarm_descriptions.items():
        link = re.search(r"Runbook: docs/runbooks\.md#([\w-]+)$", description)
        assert link, f"{name} links no runbook"
        anchor = link.group(1)
        assert anchor in runbooks, f"{name} links #{anchor}, which docs/runbooks.md lacks"
        missing = [part for part in PARTS if part not in runbooks[anchor]]
        assert not missing, f"#{anchor} lacks {missing}"
        assert COMMAND.search(runbooks[anchor]), f"#{anchor} names no ops command to run first"


def runbook_commands() -> list[str]:
    text = RUNBOOKS.read_text()
    return [(m.group("cli") if m.group("cli") is not None else m.group("make")).strip() for m in COMMAND.finditer(text)]


def test_the_runbooks_use_every_command():
    used = {tuple(shlex.split(c)[:2]) for c in runbook_commands()}
    flat = {word for pair in used for word in pair}
    for command in ("status", "peek", "redrive", "purge", "failed", "stuck", "quarantined", "replay"):
        assert command in flat, f"no runbook shows `{command}`"


@pytest.mark.parametrize("command", sorted(set(runbook_commands())))
def test_every_ops_command_in_the_runbooks_parses(command):
    argv = shlex.split(command)
    try:
        build_parser().parse_args(argv)
    except SystemExit as refused:
        # --help exits 0; anything else is a command on-call would see refused.
        assert refused.code == 0, f"`python -m ops {command}` does not parse"


def test_the_runbooks_show_exactly_the_operators_policy_the_contract_defines():
    """What an operator is told to ask for is what the local stack enforces on
    the ops CLI (contract/permissions.py OPERATOR), with placeholders for the stack."""
    body = sections()["on-calls-iam-policy"]
    shown = re.search(r"```json\n(.*?)\n```", body, re.S)
    assert shown, "the section shows no JSON policy"
    values = permissions.arns(Names("<stack>"), "<region>", "<account>",
                              kms_key_arn="arn:aws:kms:<region>:<account>:key/<key-id>")
    expected = permissions.document(permissions.render(permissions.OPERATOR, values))
    assert json.loads(shown.group(1)) == expected, "render it again:\n" + json.dumps(expected, indent=2)
