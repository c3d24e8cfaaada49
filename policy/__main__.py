"""The policy pack's entry point: `pulumi preview --policy-pack policy`.
The rules live in `rules.py` so tests can run them without the CLI; only this
file builds the PolicyPack, because building one starts its gRPC server."""

from pulumi_policy import EnforcementLevel, PolicyPack
from rules import policies

PolicyPack(name="uploads-hardening", enforcement_level=EnforcementLevel.MANDATORY, policies=policies())
