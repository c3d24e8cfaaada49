"""Least privilege, measured: every IAM decision the local stacks of the whole
test suite made (UPLOADS_IAM_RECORD_DIR, which `make test` sets for all its
phases) held against what contract/permissions.py grants.

For each function role (api, ingest, events) and the on-call operator:
- every recorded call was allowed: nothing the suite does would fail only
  on AWS, after `pulumi up`;
- every grant (each statement's action on each of its resources) was used by
  some call: nothing is granted just in case.

What no local call can use, or a refusal that is AWS's answer too, is listed
below with its reason; nothing else is excused. `make test` runs this last,
alone, and prints the table (also written to least-privilege.txt beside the
records).
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import pytest

from contract import permissions
from contract.names import Names
from local.iam.authority import API, ASSESSED, EVENTS, INGEST, OPERATOR, WEBHOOKS
from local.iam.record import ENV_VAR, read

_RUNTIME = ("the Lambda service writes the function's log lines (stdout) to its log group, not our boto3 "
            "calls; the local runtime writes them to .local/logs")
_TRACES = "the X-Ray SDK sends segments to the daemon Lambda runs, not through an AWS endpoint the stack serves"
_KMS = "a customer-managed KMS key (uploads:kmsKeyArn) adds it; the local stack has none, so it is not rendered here"

# (principal, Sid, action) -> why no call of the local stack uses that grant. "*": any principal.
UNUSED = {
    ("*", "WriteOwnLogs", "logs:CreateLogStream"): _RUNTIME,
    ("*", "WriteOwnLogs", "logs:PutLogEvents"): _RUNTIME,
    ("*", "Tracing", "xray:PutTraceSegments"): _TRACES,
    ("*", "Tracing", "xray:PutTelemetryRecords"): _TRACES,
    ("*", "UseTheKeyThroughS3", "kms:Decrypt"): _KMS,
    ("*", "UseTheKeyThroughS3", "kms:GenerateDataKey"): _KMS,
    (API, "DecryptCursorSecret", "kms:Decrypt"): _KMS,
    (WEBHOOKS, "DecryptEndpointSecrets", "kms:Decrypt"): _KMS,
    (INGEST, "ConsumeQueue", "sqs:ChangeMessageVisibility"):
        "granted for AWS's poller (the event source mapping acts with this role); the emulated mapping "
        "(local/esm.py) never changes a message's visibility, and Lambda's documentation lists only "
        "ReceiveMessage, DeleteMessage and GetQueueAttributes, so only AWS can show whether this is used",
    (OPERATOR, "WorkTheDeadLetterQueue", "sqs:ListMessageMoveTasks"):
        "ops/dlq.py polls a message-move task with it; moto has no message-move task, so locally the "
        "redrive falls back to send-then-delete before it could list one",
}

# (principal, action, operation) -> why a refusal is AWS's answer too, and nothing branches on it.
EXPECTED_DENIALS = {
    (API, "s3:ListBucket", "GetObject"):
        "a presigned download of a deleted file (tests/e2e/api/test_uploads.py): without s3:ListBucket S3 "
        "answers 403, not 404, and the browser gets the same failure either way",
    (API, "s3:GetObjectVersion", "GetObject"):
        "the bucket policy's DenyReadsUnlessScannedClean refusing a download URL of an infected file "
        "(tests/e2e/api/test_scanning.py): the refusal is the point, and the API never issues such a URL",
    (API, "dynamodb:Query", "Query"):
        "the api-5xx drill's bad deploy, an API naming a table its role does not cover "
        "(tests/local/test_alarm_drills.py): the refusals are the fault that must page",
}


def _templates() -> dict[str, list[dict]]:
    # The delivery function's secrets are the stack's endpoints', in SSM or Secrets Manager.
    webhooks = permissions.webhook_delivery([Names("<stack>").webhook_secret_parameter("<endpoint>"),
                                              "arn:aws:secretsmanager:<region>:<account>:secret:<endpoint>"])
    return {API: permissions.ROLES[API], INGEST: permissions.ROLES[INGEST], EVENTS: permissions.ROLES[EVENTS],
            WEBHOOKS: webhooks,
            OPERATOR: permissions.OPERATOR}


def grants(principal: str) -> dict[tuple[str, str, int], str]:
    """Each grant of the principal's policy as (Sid, action, resource index) ->
    the resource as the runbooks spell it, rendered for no stack in particular."""
    values = permissions.arns(Names("<stack>"), "<region>", "<account>", function=f"uploads-<stack>-{principal}")
    found = {}
    for statement in permissions.render(_templates()[principal], values):
        if statement["Effect"] != "Allow":
            continue
        for action in statement["Action"]:
            for index, resource in enumerate(statement["Resource"]):
                found[(statement["Sid"], action, index)] = resource
    return found


def _excused(principal: str, sid: str, action: str) -> str | None:
    return UNUSED.get((principal, sid, action)) or UNUSED.get(("*", sid, action))


@pytest.mark.least_privilege
def test_every_call_was_allowed_and_every_grant_was_used():
    directory = os.environ.get(ENV_VAR)
    if not directory:
        pytest.skip(f"{ENV_VAR} is not set: `make test` sets it, records the whole suite's IAM decisions there, "
                    "then runs this test over them")
    entries = read(Path(directory))
    assert entries, f"{directory} holds no recorded decisions: the suite ran no local stack with {ENV_VAR} set"

    problems: list[str] = []
    rows = []
    details = []
    for principal in ASSESSED:
        mine = [entry for entry in entries if entry["principal"] == principal]
        granted = grants(principal)
        used: Counter = Counter()
        denied: Counter = Counter()
        expected: Counter = Counter()
        for entry in mine:
            if entry["allowed"]:
                for match in entry["statements"]:
                    if match["policy"] == f"identity:{principal}":
                        used[(match["sid"], match["action"], match["resource"])] += 1
            elif (principal, entry["action"], entry["operation"]) in EXPECTED_DENIALS:
                expected[(entry["action"], entry["operation"])] += 1
            else:
                denied[(entry["operation"], entry["action"], entry["resource"], entry["reason"])] += 1
        unused = [unit for unit in granted if unit not in used]
        excused = {unit: _excused(principal, unit[0], unit[1]) for unit in unused}
        for unit in granted:
            if unit in used and _excused(principal, unit[0], unit[1]):
                problems.append(f"{principal}: {unit[0]} {unit[1]} on {granted[unit]} is excused as unused in "
                                "UNUSED, but calls used it: remove the exception")
        if not mine:
            problems.append(f"{principal}: no calls recorded; did the whole suite run?")
        for (operation, action, resource, reason), count in sorted(denied.items()):
            problems.append(f"{principal}: {count} x {operation} needs {action} on {resource}: {reason} "
                            "(it would fail on AWS)")
        for unit in unused:
            if not excused[unit]:
                problems.append(f"{principal}: {unit[0]} grants {unit[1]} on {granted[unit]}, and no call used it "
                                "(granted just in case?)")
        statements = len({unit[0] for unit in granted})
        rows.append((principal, len(mine), statements, len(granted), len(unused),
                     sum(1 for reason in excused.values() if reason), sum(denied.values()), sum(expected.values())))
        details += [f"  {principal}: {sid} {action} on {granted[(sid, action, index)]}: unused, {excused[key]}"
                    for key in unused if excused[key] for sid, action, index in [key]]
        details += [f"  {principal}: {count} x {operation} refused {action}: expected, "
                    f"{EXPECTED_DENIALS[(principal, action, operation)]}"
                    for (action, operation), count in sorted(expected.items())]

    header = ("principal", "calls recorded", "statements", "grants", "unused", "of which excused", "calls denied",
              "expected refusals")
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    table = "\n".join("  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True))
                      for row in [header, *rows])
    report = (f"IAM least privilege over {len(entries)} recorded decisions "
              f"({len({e['stack'] for e in entries})} stack name(s)):\n{table}\n"
              + ("Excused:\n" + "\n".join(details) + "\n" if details else ""))
    (Path(directory) / "least-privilege.txt").write_text(report + "".join(f"PROBLEM {p}\n" for p in problems))
    print("\n" + report)
    assert not problems, "\n".join(problems)


def test_every_exception_names_a_grant_or_a_refusal_that_exists():
    """An exception for a grant that no policy has any more is stale."""
    everything = {(principal, sid, action) for principal in ASSESSED for (sid, action, _) in grants(principal)}
    kms = {(principal, statement["Sid"], action) for principal, template in _templates().items()
           for statement in template if permissions.KMS_KEY in {r.symbol for r in permissions.refs(statement)}
           for action in statement["Action"]}
    for principal, sid, action in UNUSED:
        principals = ASSESSED if principal == "*" else (principal,)
        assert any((p, sid, action) in everything | kms for p in principals), (principal, sid, action)
    for principal, action, _ in EXPECTED_DENIALS:
        assert principal in ASSESSED and ":" in action
