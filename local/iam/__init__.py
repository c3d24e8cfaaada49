"""IAM on the local stack: every AWS call is checked against the policy its
caller has on AWS, from contract/permissions.py (see local/iam/README.md).

- evaluate.py: IAM's policy evaluation logic and condition operators;
- authority.py: the principals (a role's credentials each), decisions, records;
- s3.py: S3 requests as IAM actions, for local/s3/front.py;
- services.py, front.py: every other service's calls, and the front before moto;
- record.py: the decisions as JSON lines, for tests/iam/test_least_privilege.py.
"""
