import time

import pytest

from engine.keys import create_key
from engine.models import KeyScope


@pytest.fixture
def key(transactional_db) -> str:
    """A committed key the real server can see."""
    return create_key(name="streamer", scope=KeyScope.USER)[1]


@pytest.fixture(autouse=True)
def _turns_end_with_their_test(request):
    """A turn keeps running after its client hangs up; one still writing when the test database
    is flushed would leave rows for the next test. Wait for the turns a test started."""
    yield
    if "transactional_db" not in request.fixturenames and "key" not in request.fixturenames:
        return
    from execution.models import Run
    from execution.selectors import LIVE_STATUSES

    deadline = time.monotonic() + 15
    while Run.objects.filter(status__in=LIVE_STATUSES).exists() and time.monotonic() < deadline:
        time.sleep(0.05)
