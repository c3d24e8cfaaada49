"""The on-call CLI: status, the DLQ (peek, redrive, purge), failed, stuck and
quarantined files, replay. Works on any stack whose outputs follow the
contract: a deployed one (`--stack NAME`, through `pulumi stack output
--json`) or the local one (`.local/stack.json`)."""
