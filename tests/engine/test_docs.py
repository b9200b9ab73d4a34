"""The README and .env.example stay true to the code."""

import re

from engine.errors import ERROR_CODES
from tests.live_server import ROOT


def test_the_readme_lists_every_error_code_with_its_status():
    from django.urls import get_resolver

    get_resolver().url_patterns  # loads every app's views, and with them their registered errors
    readme = (ROOT / "README.md").read_text()
    for code, (status, _) in ERROR_CODES.items():
        assert f"| {status} | `{code}` |" in readme, code


def test_env_example_lists_every_variable_the_engine_reads():
    sources = (ROOT / "engine" / "env.py").read_text() + (ROOT / "engine" / "settings.py").read_text()
    read = set(re.findall(r'env(?:\.\w+)?\("([A-Z_]+)"', sources))
    example = (ROOT / ".env.example").read_text()
    assert read, "no variables found"
    for name in read:
        assert re.search(rf"^#? ?{name}=", example, re.MULTILINE), name
