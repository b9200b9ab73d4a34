"""A per-key request budget (ENGINE_THROTTLE_RATE, for example `6000/min`; `off` disables it).

A fixed-window counter in the cache costs O(1) per request, where DRF's sliding-window history
would re-pickle a list as long as the limit on every request.
"""

import time

from django.conf import settings
from django.core.cache import cache
from rest_framework.throttling import BaseThrottle

_PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


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
        counter = f"throttle:{request.auth.prefix}:{window}:{window_index}"
        cache.add(counter, 0, timeout=window + 1)
        if cache.incr(counter) <= limit:
            return True
        self.retry_after = (window_index + 1) * window - now
        return False

    def wait(self) -> float | None:
        return self.retry_after
