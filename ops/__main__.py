"""python -m ops: the on-call CLI. See docs/runbooks.md for when to use what.

Exit codes: 0 healthy or done; 1 when status finds something that needs
attention (or a replay could not copy a file); 2 for usage errors; 3 when the
stack's endpoints cannot be reached or refuse the call."""

from __future__ import annotations

import argparse
import json
import re
import sys
from datetime import timedelta
from pathlib import Path

from botocore.exceptions import BotoCoreError, ClientError

from ops import alarms, attention, dlq, events, infected, render, replay, rescan, status, usage, webhooks
from ops.outputs import Stack

OK, ATTENTION, USAGE, UNREACHABLE = 0, 1, 2, 3
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def duration(text: str) -> timedelta:
    """`90s`, `15m`, `1h`, `2d`; a bare number is minutes."""
    match = re.fullmatch(r"(\d+)([smhd]?)", text.strip())
    if not match:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration like 90s, 15m, 1h or 2d")
    return timedelta(**{_UNITS[match.group(2) or "m"]: int(match.group(1))})


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _limit(parser: argparse.ArgumentParser, default: int) -> None:
    parser.add_argument("-n", "--limit", type=_positive, default=default, help=f"at most this many (default {default})")


def build_parser() -> argparse.ArgumentParser:
    # Accepted before or after the command; SUPPRESS keeps a subcommand's
    # absent option from overwriting the one given before it.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true", default=argparse.SUPPRESS,
                        help="print the result as JSON, for scripts")
    where = common.add_mutually_exclusive_group()
    where.add_argument("--stack", default=argparse.SUPPRESS,
                       help="a deployed stack (reads `pulumi stack output --json`)")
    where.add_argument("--stack-file", type=Path, default=argparse.SUPPRESS,
                       help="a stack outputs file (default: the local stack's .local/stack.json)")

    parser = argparse.ArgumentParser(prog="python -m ops", parents=[common], description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(sub, name: str, summary: str, description: str | None = None):
        return sub.add_parser(name, parents=[common], help=summary, description=description or summary)

    show = command(commands, "status", "queues, alarms in ALARM, failed, stuck and quarantined files",
                   "Queue depths and the age of the oldest message, the DLQ's depth, alarms in ALARM, files "
                   "failed in the last hour by code, files stuck pending, quarantined files. Exits 1 when "
                   "something needs attention: an alarm, a dead letter, a stuck or a quarantined file.")
    show.add_argument("--stuck-after", type=duration, default=status.STUCK_AFTER, metavar="DURATION",
                      help="pending longer than this counts as stuck (default 15m)")
    show.add_argument("--scan-stuck-after", type=duration, default=status.SCAN_STUCK_AFTER, metavar="DURATION",
                      help="waiting for a malware scan longer than this counts as stuck (default: GuardDuty's "
                           "allowance plus the ingest queue's receives)")

    listed = command(commands, "alarms", "every alarm: state, since when, last value against threshold, runbook",
                     "Every alarm of the stack with its state, when it entered it, the last value it evaluated "
                     "against its threshold, and its runbook section. Exits 1 when any is in ALARM.")
    listed.add_argument("--state", choices=("ALARM", "OK", "INSUFFICIENT_DATA"), help="only alarms in this state")

    dead = command(commands, "dlq", "the ingest dead-letter queue: peek, redrive, purge")
    dead_commands = dead.add_subparsers(dest="dlq_command", required=True, metavar="ACTION")
    peek = command(dead_commands, "peek", "show dead messages without consuming them",
                   "Show dead messages (bucket, key, owner and file id, receive count, first receive, size) "
                   "and make them visible again at once. Each peek adds one to a message's receive count.")
    _limit(peek, 10)
    redrive = command(dead_commands, "redrive", "move dead messages back to the ingest queue",
                      "Move dead messages back to the ingest queue, with SQS's message-move task where the "
                      "endpoint has it, otherwise send-then-delete (an interruption can duplicate, never lose). "
                      "Fix the cause first.")
    redrive.add_argument("--max", type=_positive, default=None, help="move at most this many (by send-then-delete)")
    redrive.add_argument("--dry-run", action="store_true", help="say how many would move; move nothing")
    purge = command(dead_commands, "purge", "delete every dead message (needs --yes)",
                    "Delete every message in the DLQ. The messages are the evidence of what failed: peek first.")
    purge.add_argument("--yes", action="store_true", help="really delete them")

    hooks = command(commands, "webhooks", "webhook deliveries per endpoint: delivered, retrying, dead-lettered",
                    "Per endpoint: deliveries acknowledged and attempts failed (the delivery function's metrics, "
                    "over --since), dead-lettered deliveries and their event ids (the DLQ, peeked); the delivery "
                    "queue's depth for all endpoints. Exits 1 when any delivery is dead-lettered. "
                    "`webhooks redrive` sends dead deliveries back for a fresh round of retries.")
    hooks.add_argument("--since", type=duration, default=webhooks.SINCE, metavar="DURATION",
                       help="count deliveries this far back (default 1d)")
    hook_commands = hooks.add_subparsers(dest="webhooks_command", metavar="ACTION")
    again_hooks = command(hook_commands, "redrive", "move dead-lettered deliveries back to the delivery queue",
                          "Send dead deliveries (all, or --endpoint's) back to the delivery queue, then delete "
                          "them from the DLQ: an interruption can repeat one (same webhook-id), never lose one. "
                          "Bring the receiver back first.")
    again_hooks.add_argument("--endpoint", help="only this endpoint's deliveries")
    failed = command(commands, "failed", "list failed files, newest first (attention index)")
    failed.add_argument("--since", type=duration, default=None, metavar="DURATION",
                        help="failed within this long ago, e.g. 1h (default: any time)")
    failed.add_argument("--code", help="only this error code, e.g. corrupt")
    failed.add_argument("--owner", help="only this owner's files")
    _limit(failed, 50)

    again_scan = command(commands, "rescan", "ask GuardDuty to scan files again",
                         "Send files to GuardDuty's SendObjectMalwareScan: those named (with --owner), or with "
                         "--stuck every uploaded file waiting for its scan longer than --older-than. Their new "
                         "result replaces what the record holds.")
    again_scan.add_argument("file_ids", nargs="*", metavar="FILE_ID")
    again_scan.add_argument("--owner", help="the files' owner (their Cognito sub)")
    again_scan.add_argument("--stuck", action="store_true", help="every file waiting for its scan too long")
    again_scan.add_argument("--older-than", type=duration, default=status.SCAN_STUCK_AFTER, metavar="DURATION",
                            help="with --stuck: waiting longer than this (default: the scan bound)")
    purge_infected = command(commands, "purge-infected", "remove infected files kept past their retention",
                             "Delete every version of each file whose malware scan found threats more than "
                             "--older-than ago (default: the retention, 30d); the worker then marks it deleted "
                             "and gives its owner's quota back, as for a user's delete.")
    purge_infected.add_argument("--older-than", type=duration, default=infected.INFECTED_RETENTION,
                                metavar="DURATION", help="scanned infected longer ago than this (default 30d)")
    purge_infected.add_argument("--dry-run", action="store_true", help="list them, remove nothing")
    stuck = command(commands, "stuck", "list files pending for too long (attention index)")
    stuck.add_argument("--older-than", type=duration, default=None, metavar="DURATION",
                       help="pending for longer than this (default 15m; with --scan, the scan bound)")
    stuck.add_argument("--scan", action="store_true",
                       help="files uploaded but waiting for their malware scan (scan index) instead")
    _limit(stuck, 50)

    quarantined = command(commands, "quarantined", "list quarantined files (failed, processing_crashed)")
    _limit(quarantined, 50)

    again = command(commands, "replay", "run files through the pipeline again",
                    "Copy each object onto itself so S3 sends a fresh event and the worker processes it "
                    "again. Fix the cause first.")
    target = again.add_mutually_exclusive_group(required=True)
    target.add_argument("--file", nargs=2, metavar=("OWNER_ID", "FILE_ID"), help="one file")
    target.add_argument("--failed", action="store_true", help="the most recent failed files")
    target.add_argument("--stuck", action="store_true", help="files pending for longer than --older-than")
    target.add_argument("--quarantined", action="store_true", help="quarantined files")
    again.add_argument("--code", help="with --failed: only this error code")
    again.add_argument("--since", type=duration, default=None, metavar="DURATION",
                       help="with --failed: failed within this long ago")
    again.add_argument("--older-than", type=duration, default=status.STUCK_AFTER, metavar="DURATION",
                       help="with --stuck: pending for longer than this (default 15m)")
    _limit(again, 20)

    told = command(commands, "events", "a file's recent lifecycle events, oldest first",
                   "The lifecycle events the stack put on its bus about one file (docs/events.md), from the "
                   "bus's event log, oldest first by their sequence, each event id once.")
    told.add_argument("file_id", metavar="FILE_ID")
    told.add_argument("--since", type=duration, default=events.LOOK_BACK, metavar="DURATION",
                      help="put within this long ago (default 7d)")

    held = command(commands, "usage", "what users hold against their quotas: show, backfill")
    held_commands = held.add_subparsers(dest="usage_command", required=True, metavar="ACTION")
    one_user = command(held_commands, "show", "one user's usage beside what their records add up to",
                       "The user's usage item beside the sum of their charged files and of tickets whose record "
                       "is gone, open and expired tickets, and files stored before quotas. Exits 1 when the "
                       "two disagree.")
    one_user.add_argument("owner", metavar="OWNER_ID")
    charge = command(held_commands, "backfill", "charge files stored before quotas existed",
                     "Count every processed or failed file that was never charged, once: running it again "
                     "charges nothing more. Without --owner it scans the table.")
    charge.add_argument("--owner", help="only this owner's files")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "replay" and not args.failed and (args.code or args.since):
        parser.error("--code and --since narrow --failed only")
    try:
        stack = Stack.from_pulumi(args.stack) if getattr(args, "stack", None) \
            else Stack.from_file(getattr(args, "stack_file", Path(".local/stack.json")))
    except SystemExit as missing:
        print(missing, file=sys.stderr)
        return USAGE
    try:
        return _run(stack, args, as_json=getattr(args, "json", False))
    except (BotoCoreError, ClientError) as error:
        print(f"the stack did not answer: {error}", file=sys.stderr)
        return UNREACHABLE


def _run(stack: Stack, args, as_json: bool) -> int:
    def show(result, draw) -> None:
        if as_json:
            print(json.dumps(result, indent=2, default=str))
        else:
            draw(result)

    command = args.command
    if command in ("dlq", "usage"):
        command = f"{command} {getattr(args, command + '_command')}"
    if command == "webhooks":
        command = f"webhooks {args.webhooks_command or 'show'}"
    return _COMMANDS[command](stack, args, show)


def _status(stack: Stack, args, show) -> int:
    report = status.status(stack, args.stuck_after, scan_stuck_after=args.scan_stuck_after)
    show(report, render.status)
    return ATTENTION if report["needsAttention"] else OK


def _alarms(stack: Stack, args, show) -> int:
    found = alarms.alarms(stack, args.state)
    show(found, render.alarms)
    return ATTENTION if any(alarm["state"] == "ALARM" for alarm in found) else OK


def _failed(stack: Stack, args, show) -> int:
    items = attention.failed(stack, args.limit, since=args.since, code=args.code, owner=args.owner)
    show(items, lambda i: render.files(i, "failed"))
    return OK


def _stuck(stack: Stack, args, show) -> int:
    older_than = args.older_than
    if args.scan:
        older_than = status.SCAN_STUCK_AFTER if older_than is None else older_than
        show(attention.scan_stuck(stack, older_than, args.limit), lambda i: render.files(i, "scan-stuck"))
        return OK
    older_than = status.STUCK_AFTER if older_than is None else older_than
    show(attention.stuck(stack, older_than, args.limit), lambda i: render.files(i, "stuck"))
    return OK


def _rescan(stack: Stack, args, show) -> int:
    if args.stuck == bool(args.file_ids) or (args.file_ids and not args.owner):
        print("name files with --owner, or use --stuck", file=sys.stderr)
        return USAGE
    results = rescan.rescan(stack, args.owner, args.file_ids, args.older_than if args.stuck else None)
    show(results, render.rescanned)
    return OK


def _purge_infected(stack: Stack, args, show) -> int:
    show(infected.purge(stack, args.older_than, args.dry_run), render.infected)
    return OK


def _quarantined(stack: Stack, args, show) -> int:
    show(attention.quarantined(stack, args.limit), lambda i: render.files(i, "quarantined"))
    return OK


def _peek(stack: Stack, args, show) -> int:
    show(dlq.peek(stack, args.limit), render.peek)
    return OK


def _redrive(stack: Stack, args, show) -> int:
    show(vars(dlq.redrive(stack, args.max, args.dry_run)), render.redrive)
    return OK


def _purge(stack: Stack, args, show) -> int:
    if not args.yes:
        waiting = dlq.depth(stack.client("sqs"), stack.outputs.dead_letter_queue_url)
        print(f"refusing to purge {waiting['visible'] + waiting['inFlight']} dead message(s) without --yes; "
              "they are the evidence of what failed: `python -m ops dlq peek` first", file=sys.stderr)
        return USAGE
    show({"removed": dlq.purge(stack)}, render.purge)
    return OK


def _events(stack: Stack, args, show) -> int:
    show(events.events(stack, args.file_id, args.since), render.events)
    return OK


def _webhooks(stack: Stack, args, show) -> int:
    report = webhooks.show(stack, args.since)
    show(report, render.webhooks)
    return ATTENTION if any(row["deadLettered"] for row in report["endpoints"]) else OK


def _webhooks_redrive(stack: Stack, args, show) -> int:
    show(webhooks.redrive(stack, args.endpoint), render.webhook_redrive)
    return OK


def _usage_show(stack: Stack, args, show) -> int:
    report = usage.show(stack, args.owner)
    show(report, render.usage)
    return ATTENTION if any(report["drift"].values()) else OK


def _backfill(stack: Stack, args, show) -> int:
    show(usage.backfill(stack, args.owner), render.backfilled)
    return OK


def _replay_command(stack: Stack, args, show) -> int:
    results = _replay(stack, args)
    show(results, render.replayed)
    return ATTENTION if any(r["result"].startswith("error") for r in results) else OK


def _replay(stack: Stack, args) -> list[dict]:
    if args.file:
        chosen = [{"ownerId": args.file[0], "fileId": args.file[1]}]
    elif args.failed:
        chosen = attention.failed(stack, args.limit, since=args.since, code=args.code)
    elif args.stuck:
        chosen = attention.stuck(stack, args.older_than, args.limit)
    else:
        chosen = attention.quarantined(stack, args.limit)
    return [
        {"ownerId": i["ownerId"], "fileId": i["fileId"], "result": replay.replay_file(stack, i["ownerId"], i["fileId"])}
        for i in chosen
    ]


_COMMANDS = {
    "status": _status,
    "alarms": _alarms,
    "failed": _failed,
    "stuck": _stuck,
    "quarantined": _quarantined,
    "purge-infected": _purge_infected,
    "rescan": _rescan,
    "replay": _replay_command,
    "events": _events,
    "dlq peek": _peek,
    "dlq redrive": _redrive,
    "dlq purge": _purge,
    "webhooks show": _webhooks,
    "webhooks redrive": _webhooks_redrive,
    "usage show": _usage_show,
    "usage backfill": _backfill,
}

if __name__ == "__main__":
    raise SystemExit(main())
