"""What every side of the system must agree on, defined once.

`components/` (what Pulumi deploys), `local/` (what the local stack provisions),
`workers/` (what runs in Lambda), `ops/` and the tests all derive from these
modules, so the local stack and AWS cannot drift. Only what two or more sides
share lives here; a setting with one user lives next to that user. Plain data
and derivations only: nothing here imports boto3 or pulumi, and the package
ships in the Lambda zip.
"""
