"""A per-key request budget (ENGINE_THROTTLE_RATE, for example `6000/min`; `off` disables it).

A fixed-window counter per worker process, kept in a plain dict: it sits on the path of every
request, where a cache backend's locking and pickling cost more than the rest of the check.
The budget is per worker (as any in-process cache would be); the README says so.
"""

import time

from django.conf import settings
from rest_framework.throttling import BaseThrottle

_PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_counts: dict[tuple[str, int, int], int] = {}
_PRUNE_ABOVE = 10_000


def parse_rate(rate: str) -> tuple[int, int] | None:
    """`"6000/min"` → (6000, 60); empty or `off` → None."""
    if not rate or rate.lower() == "off":
        return None
    count, period = rate.split("/")
    return int(count), _PERIODS[period.strip()[0].lower()]


class KeyRateThrottle(BaseThrottle):
    def __init__(self):
        self.retry_after = None

    def allow_request(self, request, view) -> bool:
        rate = parse_rate(settings.ENGINE_THROTTLE_RATE)
        if rate is None or request.auth is None:
            return True
        limit, window = rate
        now = time.time()
        window_index = int(now // window)
        counter = (request.auth.prefix, window, window_index)
        count = _counts[counter] = _counts.get(counter, 0) + 1
        if len(_counts) > _PRUNE_ABOVE:
            for stale in [key for key in _counts if key[2] < window_index]:
                del _counts[stale]
        if count <= limit:
            return True
        self.retry_after = (window_index + 1) * window - now
        return False

    def wait(self) -> float | None:
        return self.retry_after
