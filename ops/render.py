"""How each command's result reads on a terminal: short summaries and tables.
`--json` bypasses all of this and prints the result itself."""

from __future__ import annotations

import sys

from rich.console import Console
from rich.table import Table

# Piped output keeps whole rows (keys, ids) rather than wrapping at 80 columns.
console = Console(highlight=False, width=None if sys.stdout.isatty() else 200)


def _table(*columns: str, title: str | None = None) -> Table:
    return Table(*columns, title=title, title_justify="left", box=None, header_style="bold", pad_edge=False)


def _age(seconds: int | None) -> str:
    if seconds is None:
        return "n/a (no metric here)"
    minutes, seconds = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{seconds:02d}s" if minutes else f"{seconds}s"


def alarms(found: list[dict]) -> None:
    if not found:
        console.print("No alarms")
        return
    table = _table("alarm", "state", "since", "last value", "threshold", "runbook")
    for alarm in found:
        last = "" if alarm["lastValue"] is None else f"{alarm['lastValue']:g}"
        table.add_row(alarm["name"], alarm["state"] or "", alarm["since"] or "", last,
                      f"{alarm['comparison']} {alarm['threshold']:g}", alarm["runbook"] or "")
    console.print(table)


def status(report: dict) -> None:
    queue, dead = report["queue"], report["deadLetterQueue"]
    verdict = "; ".join(report["needsAttention"]) or "nothing needs attention"
    console.print(f"[bold]{'NEEDS ATTENTION' if report['needsAttention'] else 'OK'}[/bold]: {verdict}")
    console.print()
    queues = _table("queue", "visible", "in flight", "delayed", "oldest message")
    queues.add_row("ingest", str(queue["visible"]), str(queue["inFlight"]), str(queue["delayed"]),
                   _age(queue["oldestAgeSeconds"]))
    queues.add_row("dead-letter", str(dead["visible"]), str(dead["inFlight"]), str(dead["delayed"]), "")
    console.print(queues)
    console.print()
    alarms = report["alarms"]
    if alarms:
        table = _table("alarm in ALARM", "since", "runbook", title="Alarms")
        for alarm in alarms:
            table.add_row(alarm["name"], alarm["since"] or "", alarm["runbook"] or "")
        console.print(table)
        console.print()
    else:
        console.print("Alarms: none in ALARM")
    failed = report["failedLastHour"]
    console.print("Failed in the last hour: " + (", ".join(f"{code} {n}" for code, n in failed.items()) or "none"))
    console.print()
    stuck = report["stuck"]
    _brief_files(f"Uploaded but pending for over {report['stuckAfterMinutes']} min", stuck)
    if stuck["neverUploaded"]:
        console.print(f"Upload tickets never used: {stuck['neverUploaded']} (no object; TTL reaps them)")
    if stuck["checked"] < stuck["pending"]:
        console.print(f"Checked the {stuck['checked']} most recent of {stuck['pending']} pending files for "
                      "their object: `stuck` lists them all")
    if stuck["neverUploaded"] or stuck["checked"] < stuck["pending"]:
        console.print()
    _brief_files("Quarantined", report["quarantined"])
    _brief_files(f"Uploaded, waiting for their malware scan for over {report['scanStuckAfterMinutes']} min",
                 report["scanStuck"])


def _brief_files(title: str, group: dict) -> None:
    if not group["count"]:
        console.print(f"{title}: none")
        return
    shown = len(group["files"])
    more = f" (showing {shown})" if shown < group["count"] else ""
    table = _table("owner", "file id", "updated", "error", title=f"{title}: {group['count']}{more}")
    for item in group["files"]:
        table.add_row(item["ownerId"] or "", item["fileId"] or "", item["updatedAt"] or "",
                      (item.get("error") or {}).get("code", ""))
    console.print(table)
    console.print()


def peek(messages: list[dict]) -> None:
    if not messages:
        console.print("The dead-letter queue is empty.")
        return
    table = _table("message", "receives", "first received", "bytes", "owner", "file id", "object")
    for message in messages:
        lead = (message["messageId"][:8], str(message["receiveCount"]), _short(message["firstReceivedAt"]),
                str(message["bodyBytes"]))
        if not message["files"]:
            table.add_row(*lead, "", "", f"not an S3 notification: {message['body']!r}")
        for index, file in enumerate(message["files"]):
            table.add_row(*(lead if index == 0 else ("",) * len(lead)), file["ownerId"] or "-",
                          file["fileId"] or "-", f"s3://{file['bucket']}/{file['key']}")
    console.print(table)
    console.print(f"{len(messages)} message(s) shown, none consumed; each peek adds one to the receive count.")


def _short(moment: str | None) -> str:
    return moment.replace("T", " ").removesuffix("+00:00") if moment else ""


def redrive(result: dict) -> None:
    if result["method"] == "dry-run":
        console.print(f"Dry run: would move {result['moved']} of {result['waiting']} dead message(s); nothing moved.")
    else:
        console.print(f"Moved {result['moved']} message(s) back to the ingest queue ({result['method']}).")


def purge(result: dict) -> None:
    console.print(f"Purged the dead-letter queue: {result['removed']} message(s) removed.")


def files(items: list[dict], what: str) -> None:
    if not items:
        console.print(f"No {what} files.")
        return
    stuck = "uploaded" in items[0]
    table = _table("owner", "file id", "updated", *(("object",) if stuck else ("error", "message")), "key")
    for item in items:
        error = item.get("error") or {}
        said = (("in the bucket" if item["uploaded"] else "never uploaded",) if stuck
                else (error.get("code", ""), error.get("message", "")))
        table.add_row(item.get("ownerId") or "", item.get("fileId") or "", item.get("updatedAt") or "",
                      *said, item.get("key") or "")
    console.print(table)
    if stuck:
        console.print(f"{len(items)} pending file(s), {sum(i['uploaded'] for i in items)} of them in the bucket: "
                      "replay those; the others are upload tickets nobody used.")
    else:
        console.print(f"{len(items)} {what} file(s).")


def events(found: list[dict]) -> None:
    if not found:
        console.print("No events for this file (the bus's log keeps what was put; see docs/events.md).")
        return
    table = _table("occurred", "detail type", "status", "version", "sequence", "event id")
    for event in found:
        detail = event["detail"]
        table.add_row(detail["occurredAt"], event["detail-type"], detail["status"], detail.get("version") or "",
                      detail["sequence"], detail["eventId"])
    console.print(table)
    console.print(f"{len(found)} event(s).")


def infected(items: list[dict]) -> None:
    if not items:
        console.print("No infected files past their retention.")
        return
    table = _table("owner", "file id", "scanned", "threats", "key")
    for item in items:
        table.add_row(item["ownerId"], item["fileId"], item["scannedAt"] or "", ", ".join(item["threats"]),
                      item["key"])
    console.print(table)
    removed = sum(item["removed"] for item in items)
    console.print(f"{len(items)} infected file(s); removed {removed} (the worker marks each deleted)."
                  if removed else f"{len(items)} infected file(s); nothing removed (--dry-run).")


def _results(results: list[dict], nothing: str) -> bool:
    """Each file's result as a table; False when there were none."""
    if not results:
        console.print(nothing)
        return False
    table = _table("owner", "file id", "result")
    for result in results:
        table.add_row(result.get("ownerId") or "", result["fileId"], result["result"])
    console.print(table)
    return True


def replayed(results: list[dict]) -> None:
    if not _results(results, "Nothing to replay."):
        return
    done = sum(r["result"] == "replayed" for r in results)
    console.print(f"{done} of {len(results)} file(s) replayed; the worker picks them up from the queue.")


def rescanned(results: list[dict]) -> None:
    if not _results(results, "Nothing to rescan."):
        return
    sent = sum(r["result"] == "sent" for r in results)
    console.print(f"{sent} of {len(results)} file(s) sent to GuardDuty; their results reach the records "
                  "through the ingest queue.")


def usage(report: dict) -> None:
    held, expected, drift = report["usage"], report["records"], report["drift"]
    table = _table("", "bytes", "files", title=f"Usage of {report['ownerId']}")
    table.add_row("usage item", str(held["bytes"]), str(held["files"]))
    table.add_row("records and tickets", str(expected["bytes"]), str(expected["files"]))
    table.add_row("drift", str(drift["bytes"]), str(drift["files"]))
    console.print(table)
    console.print(f"{report['openTickets']} open ticket(s), {report['expiredTickets']} past their reclaim time, "
                  f"{report['ticketsWithoutRecord']} without a record; "
                  f"{report['uncharged']} file(s) stored before quotas, not counted.")
    if drift["bytes"] or drift["files"]:
        console.print("The usage item disagrees with the records: check that nothing was writing, then escalate.")


def backfilled(result: dict) -> None:
    console.print(f"Charged {result['charged']} file(s), {result['bytes']} bytes, to {result['owners']} user(s); "
                  f"{result['skipped']} changed meanwhile and were left as they are.")


def webhooks(report: dict) -> None:
    if not report["configured"]:
        console.print("No webhooks on this stack (uploads:webhooks is empty)")
        return
    retrying = report["retrying"]
    console.print(f"Delivery queue: {retrying['visible']} waiting, {retrying['inFlight']} in flight or backing off, "
                  f"all endpoints together; {report['deadLetterQueue']['visible']} dead-lettered. "
                  f"Counts since {report['since']}:")
    table = _table("endpoint", "delivered", "failed attempts", "dead-lettered", "dead event ids")
    for row in report["endpoints"]:
        table.add_row(row["endpoint"], str(row["delivered"]), str(row["failedAttempts"]), str(row["deadLettered"]),
                      " ".join(row["deadEvents"][:5]) + (" ..." if len(row["deadEvents"]) > 5 else ""))
    console.print(table)
    if report["unreadable"]:
        console.print(f"{len(report['unreadable'])} dead message(s) are not deliveries: {report['unreadable']}")


def webhook_redrive(result: dict) -> None:
    which = f"of {result['endpoint']} " if result["endpoint"] else ""
    console.print(f"Moved {result['moved']} dead deliveries {which}back to the delivery queue"
                  + (f"; {result['left']} of other endpoints left in the DLQ." if result["left"] else "."))
