"""Per-user limits: how much one user may keep, and how fast they may ask for
upload URLs, so no user can fill the bucket or starve everyone else.

The stack's config sets them (`uploads:quotaBytes`, `uploads:quotaFiles`,
`uploads:ticketRateLimit`, `uploads:partUrlRateLimit`), the local stack takes
the same defaults, and both hand them to the API function in the environment
variables `contract/functions.py` names."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import astuple, dataclass

from contract.functions import QUOTA_VARIABLES

GiB = 1024 ** 3


@dataclass(frozen=True)
class Quotas:
    # What one user may hold: every file they have, pending uploads at their
    # declared size and arrived ones at their real size.
    max_bytes: int = 10 * GiB
    max_files: int = 10_000
    # Requests per user per minute; the next one is 429 with Retry-After. A
    # dashboard asks for part URLs two at a time, so 600 a minute lets one
    # user upload at about 100 MiB/s.
    tickets_per_minute: int = 120
    part_url_requests_per_minute: int = 600

    def __post_init__(self) -> None:
        for name, value in zip(QUOTA_VARIABLES, astuple(self), strict=True):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")

    def variables(self) -> dict[str, str]:
        return dict(zip(QUOTA_VARIABLES, map(str, astuple(self)), strict=True))

    @classmethod
    def from_variables(cls, values: Mapping[str, str]) -> Quotas:
        return cls(*(int(values[name]) for name in QUOTA_VARIABLES))


QUOTAS = Quotas()
