"""What the deploy tests share: where the manifests are, the engine's CLI and environment
names, and the config file a deployment mounts, read as the engine reads it."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import typer

from campaign_engine.cli import app
from campaign_engine.config import CONFIG_ENV, OPS_TOKEN_ENV, SECRET_ENV, Settings, load_settings

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
K8S = DEPLOY / "k8s"
BASE = K8S / "base"
OVERLAY = K8S / "overlays" / "example"
COMPOSE = DEPLOY / "docker-compose.yml"

_PREFIX = "CAMPAIGN_ENGINE_"


def cli_command(args: list[str]) -> Any:
    """The ``campaign-engine`` command that ``args`` run; fails on an unknown command or
    option, as the container would at start."""
    command = typer.main.get_command(app)
    context = command.context_class(command, info_name="campaign-engine")
    rest = list(args)
    while hasattr(command, "get_command") and rest:
        found = command.get_command(context, rest[0])
        if found is None:
            raise LookupError(f"campaign-engine has no command {' '.join(args)!r}")
        context = found.context_class(found, info_name=rest.pop(0), parent=context)
        command = found
    if hasattr(command, "get_command"):
        raise LookupError(f"{' '.join(args)!r} names a group of commands, not a command")
    command.make_context(context.info_name, rest, parent=context.parent)
    return command


def engine_reads(name: str) -> bool:
    """Whether the engine reads the environment variable ``name`` (config.py)."""
    if name in {CONFIG_ENV, OPS_TOKEN_ENV, *SECRET_ENV.values()}:
        return True
    if not name.startswith(_PREFIX) or "__" not in name:
        return False
    section, *keys = name[len(_PREFIX) :].lower().split("__")
    field = Settings.model_fields.get(section)
    model: Any = field.annotation if field is not None else None
    for key in keys:
        fields = getattr(model, "model_fields", None)
        if not fields or key not in fields:
            return False
        model = fields[key].annotation
    return True


def settings_from_file(text: str, folder: Path) -> Settings:
    """The settings a process gets from this config file and no environment of its own."""
    path = folder / "campaign-engine.toml"
    path.write_text(text)
    saved = {k: v for k, v in os.environ.items() if k.startswith(_PREFIX) or k.startswith("VOCO")}
    for key in saved:
        del os.environ[key]
    try:
        return load_settings(path)
    finally:
        os.environ.update(saved)
