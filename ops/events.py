"""A file's recent lifecycle events, as integrations received them.

The bus keeps nothing; a rule on it sends every event to the stack's event
log group (docs/events.md), so this reads that group with FilterLogEvents.
A quoted term matches the file id anywhere in an event; only events whose
`detail.fileId` is that id are kept. Oldest first, by `detail.sequence`, the
order consumers are told to trust (EventBridge does not keep put order).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from ops.outputs import Stack

# What a search looks back over by default: the group keeps events longer (docs/events.md).
LOOK_BACK = timedelta(days=7)


def events(stack: Stack, file_id: str, since: timedelta = LOOK_BACK) -> list[dict]:
    """Every event about `file_id` put within `since`, each once per event id, oldest first."""
    start = int((datetime.now(UTC) - since).timestamp() * 1000)
    pages = stack.client("logs").get_paginator("filter_log_events").paginate(
        logGroupName=stack.outputs.event_log_group, filterPattern=f'"{file_id}"', startTime=start)
    found: dict[str, dict] = {}
    for page in pages:
        for line in page["events"]:
            event = json.loads(line["message"])
            detail = event.get("detail") or {}
            if detail.get("fileId") == file_id:
                # Delivered more than once (at least once): one row per event id.
                found.setdefault(detail["eventId"], event)
    return sorted(found.values(), key=lambda event: event["detail"]["sequence"])
