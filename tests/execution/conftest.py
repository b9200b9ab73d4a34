import pytest

from engine.keys import create_key
from engine.models import KeyScope


@pytest.fixture
def key(transactional_db) -> str:
    """A committed key the real server can see."""
    return create_key(name="streamer", scope=KeyScope.USER)[1]
