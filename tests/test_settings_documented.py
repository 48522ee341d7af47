"""Every setting is documented in README.md § Settings, and the table names no setting that is gone."""

from __future__ import annotations

import re
from pathlib import Path

from core.settings import Settings

README = Path(__file__).resolve().parent.parent / "README.md"


def env_name(field: str) -> str:
    return "DATABASE_URL" if field == "database_url" else f"AFTERSALES_{field.upper()}"


def test_the_readme_settings_table_matches_the_settings() -> None:
    text = README.read_text()
    table = text[text.index("## Settings") : text.index("\n## ", text.index("## Settings") + 1)]
    documented = set(re.findall(r"`(AFTERSALES_[A-Z0-9_]+|DATABASE_URL)`", table))
    expected = {env_name(field) for field in Settings.model_fields}
    assert expected - documented == set(), "settings missing from the README table"
    assert documented - expected == set(), "the README table names settings that do not exist"
