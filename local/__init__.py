"""The local stack: moto stands in for AWS services, and this package emulates
only what AWS itself does between our pieces (the SQS event source mapping, the
HTTP API's JWT authorizer and payload). The handlers run unchanged."""
