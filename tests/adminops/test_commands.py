"""manage.py reload_catalog and reload_core_soul (lc_run: see test_learning_centre)."""

import json

import pytest
from django.core.management import call_command

from memory.models import SoulVersion
from skills.catalog import current_catalog
from skills.models import CatalogGeneration

pytestmark = pytest.mark.django_db


def test_reload_catalog_prints_the_report_and_bumps_the_generation(catalog_dir, capsys):
    current_catalog()  # this process serves the catalog as it was
    (catalog_dir / "skills" / "translator.md").write_text("---\ndescription: Translate.\n---\nTranslate.\n")
    (catalog_dir / "skills" / "broken.md").write_text("no header\n")
    call_command("reload_catalog")
    captured = capsys.readouterr()
    report = json.loads(captured.out)
    assert report["changed"]["skills"] == {"added": ["translator"], "removed": [], "updated": []}
    assert [item["path"] for item in report["failed"]] == [str(catalog_dir / "skills" / "broken.md")]
    assert "1 catalog file(s) failed" in captured.err
    assert CatalogGeneration.objects.get().generation == 1


def test_reload_core_soul_prints_the_new_version(catalog_dir, capsys):
    (catalog_dir / "soul.yaml").write_text("identity: A patient teacher.\nvalues: [clarity]\npatterns: []\n")
    call_command("reload_core_soul")
    printed = json.loads(capsys.readouterr().out)
    assert printed["identity"] == "A patient teacher." and printed["version"] == 1
    assert SoulVersion.objects.get().identity == "A patient teacher."
