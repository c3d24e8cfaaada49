"""Physical resource names for one stack. Every name carries the stack, so any
number of stacks can share one account; names that are global across accounts
(buckets, Cognito domains) also carry the account id."""

from __future__ import annotations

from dataclasses import dataclass

from contract import metrics

PROJECT = "uploads"


@dataclass(frozen=True)
class Names:
    stack: str

    @property
    def prefix(self) -> str:
        return f"{PROJECT}-{self.stack}"

    def upload_bucket(self, account_id: str) -> str:
        return f"{self.prefix}-files-{account_id}"

    def site_bucket(self, account_id: str) -> str:
        return f"{self.prefix}-web-{account_id}"

    def auth_domain(self, account_id: str) -> str:
        """The Hosted UI's domain prefix: https://{this}.auth.{region}.amazoncognito.com."""
        return f"{self.prefix}-{account_id}"

    @property
    def queue(self) -> str:
        return f"{self.prefix}-ingest"

    @property
    def dead_letter_queue(self) -> str:
        return f"{self.prefix}-ingest-dlq"

    @property
    def malware_scan_role(self) -> str:
        """The role GuardDuty's malware protection plan acts with."""
        return f"{self.prefix}-malware-scan"

    @property
    def scan_result_rule(self) -> str:
        return f"{self.prefix}-scan-results"

    @property
    def scan_sweep_rule(self) -> str:
        return f"{self.prefix}-scan-sweep"

    @property
    def event_bus(self) -> str:
        """The stack's own bus for lifecycle events (contract/events.py)."""
        return self.prefix

    @property
    def events_dead_letter_queue(self) -> str:
        """Where the event producer's mapping sends a batch it gave up on."""
        return f"{self.prefix}-events-dlq"

    @property
    def event_log_group(self) -> str:
        """Every event put on the bus, for `ops events`. EventBridge writes
        only to groups under /aws/events/ (its resource policy names them)."""
        return f"/aws/events/{self.prefix}"

    @property
    def event_log_rule(self) -> str:
        return f"{self.prefix}-event-log"

    @property
    def webhook_queue(self) -> str:
        """One message per (endpoint, event) delivery (contract/webhooks.py)."""
        return f"{self.prefix}-webhooks"

    @property
    def webhook_dead_letter_queue(self) -> str:
        return f"{self.prefix}-webhooks-dlq"

    @classmethod
    def of_webhook_queue(cls, queue_name: str) -> Names:
        """The stack whose webhook delivery queue this is (the ops CLI knows a stack by its outputs)."""
        return cls(queue_name.removeprefix(f"{PROJECT}-").removesuffix("-webhooks"))

    def webhook_rule(self, endpoint: str) -> str:
        return f"{self.prefix}-webhook-{endpoint}"

    def webhook_secret_parameter(self, endpoint: str) -> str:
        """Where the local stack keeps an endpoint's secret; a deployed stack
        names its own (`secretParameter` in `uploads:webhooks`)."""
        return f"/{PROJECT}/{self.stack}/webhooks/{endpoint}"

    @property
    def table(self) -> str:
        return f"{self.prefix}-files"

    def function(self, service: str) -> str:
        return f"{self.prefix}-{service}"

    @property
    def ingest_function(self) -> str:
        return self.function(metrics.INGEST_SERVICE)

    @property
    def api_function(self) -> str:
        return self.function(metrics.API_SERVICE)

    @property
    def events_function(self) -> str:
        return self.function(metrics.EVENTS_SERVICE)

    @property
    def webhooks_function(self) -> str:
        return self.function(metrics.WEBHOOKS_SERVICE)

    @property
    def user_pool(self) -> str:
        # The name deployed pools already have: renaming a pool replaces it, users and all.
        return self.prefix

    @property
    def user_pool_client(self) -> str:
        return f"{self.prefix}-dashboard"

    @property
    def cursor_secret_parameter(self) -> str:
        """The SSM SecureString that signs listing cursors. Functions are told
        this name, never the value, so the secret is in no template or log."""
        return f"/{PROJECT}/{self.stack}/api/cursor-secret"
