"""An EventBridge rule on a schedule, delivering to an SQS queue: moto keeps
such a rule but never fires it. EventBridge's "Scheduled Event" (the
EventBridge user guide, "Creating a rule that runs on a schedule"): source
`aws.events`, detail-type `Scheduled Event`, the rule's ARN in `resources`,
an empty `detail`, and the time it fired; the rule's target gets the whole
event as the message body.

The rate runs on the local CloudWatch's clock scale, so a 5-minute schedule
fires every 5 s in the alarm drills, as each alarm period lasts 5 s there; the
time the event carries is real, because what the sweep compares it with
(when a file began waiting) is."""

from __future__ import annotations

import json
import logging
import threading
import uuid
from datetime import UTC, datetime

from contract.scan import SCHEDULED_DETAIL_TYPE, SCHEDULED_SOURCE

log = logging.getLogger("local.schedule")


class ScheduledRule:
    """One rule with a rate schedule and one SQS target."""

    def __init__(self, sqs, queue_url: str, rule_arn: str, account: str, region: str, rate_s: float,
                 scale: float = 1.0) -> None:
        # As EventBridge delivers, with its own service principal: straight to moto.
        self._sqs, self._queue_url = sqs, queue_url
        self._rule_arn, self._account, self._region = rule_arn, account, region
        self._interval_s = rate_s / scale
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="eventbridge-schedule", daemon=True)

    def start(self) -> ScheduledRule:
        self._thread.start()
        return self

    def _run(self) -> None:
        # A rate schedule fires first one rate after the rule is made.
        while not self._stopped.wait(self._interval_s):
            try:
                self.fire()
            except Exception:
                log.exception("The scheduled rule %s could not deliver", self._rule_arn)

    def fire(self) -> None:
        self._sqs.send_message(QueueUrl=self._queue_url, MessageBody=json.dumps({
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": SCHEDULED_DETAIL_TYPE,
            "source": SCHEDULED_SOURCE,
            "account": self._account,
            "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "region": self._region,
            "resources": [self._rule_arn],
            "detail": {},
        }))

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join(5)
