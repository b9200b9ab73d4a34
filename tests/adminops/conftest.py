import shutil

import pytest
from django.test import override_settings

from skills.catalog import forget_loaded_catalog
from tests.live_server import ROOT


@pytest.fixture
def catalog_dir(tmp_path):
    """A copy of the repository's catalog in a temporary ENGINE_CATALOG_DIR, for tests that edit it."""
    directory = tmp_path / "catalog"
    shutil.copytree(ROOT / "catalog", directory)
    forget_loaded_catalog()
    with override_settings(ENGINE_CATALOG_DIR=directory):
        yield directory
    forget_loaded_catalog()


@pytest.fixture
def operator(api, admin_key):
    """An API client that sends an admin-scoped key."""
    api.credentials(HTTP_X_ENGINE_KEY=admin_key)
    return api
