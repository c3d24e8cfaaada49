"""python -m ops: the on-call CLI. See docs/runbooks.md for when to use what."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from contract.table import STATUS_FAILED, STATUS_PENDING
from ops import attention, dlq, replay, status
from ops.outputs import Stack


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ops", description=__doc__)
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--stack", help="a deployed stack (reads `pulumi stack output --json`)")
    where.add_argument("--stack-file", type=Path, default=Path(".local/stack.json"),
                       help="a stack outputs file (default: the local stack's)")
    commands = parser.add_subparsers(dest="command", required=True)

    show = commands.add_parser("status", help="queue depths, dead letters, failed and stuck files")
    show.add_argument("--limit", type=int, default=10)

    dead = commands.add_parser("dlq", help="the ingest dead-letter queue")
    dead_commands = dead.add_subparsers(dest="dlq_command", required=True)
    peek = dead_commands.add_parser("peek", help="show dead messages without removing them")
    peek.add_argument("--limit", type=int, default=10)
    redrive = dead_commands.add_parser("redrive", help="move dead messages back to the ingest queue")
    redrive.add_argument("--limit", type=int, default=None)

    again = commands.add_parser("replay", help="run files through the pipeline again")
    target = again.add_mutually_exclusive_group(required=True)
    target.add_argument("--file", nargs=2, metavar=("OWNER_ID", "FILE_ID"), help="one file")
    target.add_argument("--failed", action="store_true", help="the most recent failed files")
    target.add_argument("--stuck", action="store_true", help="files pending for over 15 minutes")
    again.add_argument("--limit", type=int, default=20)

    args = parser.parse_args(argv)
    stack = Stack.from_pulumi(args.stack) if args.stack else Stack.from_file(args.stack_file)

    if args.command == "status":
        result = status.status(stack, args.limit)
    elif args.command == "dlq" and args.dlq_command == "peek":
        result = dlq.peek(stack, args.limit)
    elif args.command == "dlq":
        result = {"moved": dlq.redrive(stack, args.limit)}
    else:
        result = _replay(stack, args)
    print(json.dumps(result, indent=2, default=str))
    return 0


def _replay(stack: Stack, args) -> list[dict]:
    if args.file:
        owner_id, file_id = args.file
        return [{"ownerId": owner_id, "fileId": file_id, "result": replay.replay_file(stack, owner_id, file_id)}]
    if args.failed:
        chosen = attention.files(stack, STATUS_FAILED, args.limit)
    else:
        chosen = attention.files(stack, STATUS_PENDING, args.limit, older_than=status.STUCK_AFTER)
    return [
        {"ownerId": i["ownerId"], "fileId": i["fileId"], "result": replay.replay_file(stack, i["ownerId"], i["fileId"])}
        for i in chosen
    ]


if __name__ == "__main__":
    raise SystemExit(main())
