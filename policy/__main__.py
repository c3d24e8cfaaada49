"""The policy pack's entry point: `pulumi preview --policy-pack policy`.
The rules live in `rules.py` so tests can run them without the CLI."""

from pulumi_policy import EnforcementLevel, PolicyPack, StackValidationPolicy

from rules import RULES

PolicyPack(
    name="uploads-hardening",
    enforcement_level=EnforcementLevel.MANDATORY,
    policies=[
        StackValidationPolicy(name=name, description=description, validate=rule)
        for name, (description, rule) in RULES.items()
    ],
)
