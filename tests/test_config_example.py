"""config.example.toml is the configuration's documentation: it must stay true."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from campaign_engine.config import Settings, load_settings

EXAMPLE = Path(__file__).resolve().parents[1] / "config.example.toml"


def _keys(model: type[BaseModel], prefix: str = "") -> set[str]:
    found = set()
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            found |= _keys(annotation, f"{prefix}{name}.")
        else:
            found.add(prefix + name)
    return found


def _file_keys(data: dict[str, Any], prefix: str = "") -> set[str]:
    found = set()
    for name, value in data.items():
        # Provider tables are a mapping (any provider), documented by their example entries.
        if isinstance(value, dict) and prefix + name != "limits.providers":
            found |= _file_keys(value, f"{prefix}{name}.")
        else:
            found.add(prefix + name)
    return found


def test_example_config_loads_and_shows_the_defaults() -> None:
    assert load_settings(EXAMPLE).model_dump() == Settings().model_dump()


def test_example_config_documents_every_setting() -> None:
    documented = _file_keys(tomllib.loads(EXAMPLE.read_text()))
    missing = _keys(Settings) - documented
    assert not missing, f"config.example.toml lacks {sorted(missing)}"
