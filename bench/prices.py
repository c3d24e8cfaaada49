"""AWS's published on-demand prices for eu-west-1 (Europe (Ireland)), in USD,
as data: each with the page it is published on, the day it was read, and
whether that reading was confirmed. The first tier of each, without the free
tier: a million files a month is well past it, and far from the next tier.

AWS's pricing pages draw their tables with JavaScript; what could be read on
2026-12-05 were copies of them and of AWS's price list (named in `seen`).
A figure marked `confirmed=False` is AWS's published figure as this project
knew it, not found again that day: check it against the page before quoting
the cost table."""

from __future__ import annotations

from dataclasses import dataclass

REGION = "eu-west-1"
READ_ON = "2026-12-05"


@dataclass(frozen=True)
class Price:
    usd: float
    unit: str
    page: str
    confirmed: bool
    seen: str = ""


LAMBDA_ARM_GB_SECOND = Price(
    0.0000133334, "GB-second, arm64", "https://aws.amazon.com/lambda/pricing/", True,
    "artillery's Lambda price table (lib/platform/aws-lambda/prices.js) prices eu-west-1 at the base arm64 rate")
LAMBDA_REQUEST = Price(0.20 / 1e6, "request", "https://aws.amazon.com/lambda/pricing/", True,
                       "the same in every commercial Region")
SQS_REQUEST = Price(
    0.40 / 1e6, "request (each 64 KB of payload is one)", "https://aws.amazon.com/sqs/pricing/", False,
    "$0.40 per million standard requests seen for us-east-1 only")
S3_PUT_REQUEST = Price(0.005 / 1000, "PUT, COPY, POST or LIST request", "https://aws.amazon.com/s3/pricing/", False)
S3_GET_REQUEST = Price(0.0004 / 1000, "GET, HEAD or other request", "https://aws.amazon.com/s3/pricing/", False)
S3_STANDARD_GB_MONTH = Price(0.023, "GB-month, S3 Standard, first 50 TB", "https://aws.amazon.com/s3/pricing/",
                             False)
# On-demand throughput was halved on 2024-11-01; the figures before it
# ($1.4135 and $0.283 per million) were seen on a third-party copy.
DYNAMODB_WRITE_UNIT = Price(0.7068 / 1e6, "write request unit (1 KB; a transactional write is two)",
                            "https://aws.amazon.com/dynamodb/pricing/on-demand/", False,
                            "$1.4135 per million before the 2024-11-01 halving")
DYNAMODB_READ_UNIT = Price(0.1415 / 1e6, "read request unit (4 KB strongly consistent)",
                           "https://aws.amazon.com/dynamodb/pricing/on-demand/", False,
                           "$0.283 per million before the 2024-11-01 halving")
LOGS_INGESTED_GB = Price(0.57, "GB ingested, Standard log class", "https://aws.amazon.com/cloudwatch/pricing/", False,
                         "$0.50 per GB seen for us-east-1 only")
HTTP_API_REQUEST = Price(1.11 / 1e6, "HTTP API request (512 KB each), first 300 million",
                         "https://aws.amazon.com/api-gateway/pricing/", False)

# Malware Protection for S3 (the `malwareScan` setting, on by default in prod).
# The pricing page draws its tables with JavaScript; these are its worked
# example for us-east-1, as transcribed from the page on 2026-10-07.
GUARDDUTY_S3_OBJECT = Price(
    0.215 / 1000, "object evaluated, Malware Protection for S3", "https://aws.amazon.com/guardduty/pricing/", False,
    "the page's us-east-1 worked example ($0.215 per 1,000 objects), transcribed 2026-10-07 in "
    "api-evangelist/amazon-guardduty plans/amazon-guardduty-plans-pricing.yml")
GUARDDUTY_S3_GB = Price(
    0.09, "GB scanned, Malware Protection for S3", "https://aws.amazon.com/guardduty/pricing/", False,
    "the same transcript: $0.09 per GB scanned")
S3_TAG_MONTH = Price(0.01 / 10_000, "object tag per month", "https://aws.amazon.com/s3/pricing/", False,
                     "$0.01 per 10,000 tags per month, under Management & insights")

ALL = {name: value for name, value in dict(globals()).items() if isinstance(value, Price)}


def listing() -> dict[str, dict]:
    """Every price as results.json shows it."""
    return {name.lower(): {"usd": price.usd, "unit": price.unit, "page": price.page, "confirmed": price.confirmed,
                           **({"seen": price.seen} if price.seen else {})} for name, price in ALL.items()}
