"""Webhook delivery: one SQS message is one signed POST of one lifecycle event
to one endpoint (contract/webhooks.py)."""
