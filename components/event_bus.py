"""The stack's own EventBridge bus for lifecycle events (contract/events.py):
producers put on it, rules on it feed consumers such as the webhook delivery."""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

from contract.names import Names


class LifecycleBus(pulumi.ComponentResource):
    bus: aws.cloudwatch.EventBus

    def __init__(self, name: str, names: Names, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("uploads:event_bus:LifecycleBus", name, None, opts)
        self.bus = aws.cloudwatch.EventBus(f"{name}-bus", name=names.event_bus,
                                           opts=pulumi.ResourceOptions(parent=self))
        self.register_outputs({"busName": self.bus.name})
