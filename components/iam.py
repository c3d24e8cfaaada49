"""The contract's IAM statement templates (contract/permissions.py), rendered
with Pulumi Outputs: the ARNs are known only once the resources exist."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pulumi

from contract import permissions


def rendered(statements: Sequence[Mapping[str, Any]],
             values: Mapping[str, pulumi.Input[str] | None]) -> pulumi.Output[list[dict]]:
    """`permissions.render` once every value is known; a None value (no KMS key)
    leaves out the statements that name it."""
    known = {symbol: value for symbol, value in values.items() if value is not None}
    absent = {symbol: None for symbol, value in values.items() if value is None}
    return pulumi.Output.all(**known).apply(lambda resolved: permissions.render(statements, {**absent, **resolved}))


def policy(statements: Sequence[Mapping[str, Any]],
           values: Mapping[str, pulumi.Input[str] | None]) -> pulumi.Output[str]:
    """A policy document's JSON, as IAM and S3 take it."""
    return pulumi.Output.json_dumps({"Version": permissions.VERSION, "Statement": rendered(statements, values)})
