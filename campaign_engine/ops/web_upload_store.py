"""Where the console keeps an uploaded CSV and how its import is going: files in one
directory (``[ops] upload_dir``), so every ``serve`` process on the host sees the same
upload whichever one the preview, progress or reject-report request reaches.

Per upload: ``ID.csv`` (the file, removed once imported), ``ID.json`` (who, into which
campaign, and the import's running totals, rewritten after each committed batch) and
``ID.rejects.csv``. Files older than a day are swept when a new upload arrives.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

KEEP_SECONDS = 86_400
_ID = re.compile(r"^[A-Za-z0-9_-]{16}$")


@dataclass
class Upload:
    id: str
    campaign_id: str
    name: str
    by: str
    directory: str
    expected_rows: int = 0
    started: bool = False
    done: bool = False
    error: str | None = None
    # ``ImportSummary.to_dict()`` as of the last committed batch.
    summary: dict[str, Any] = field(default_factory=dict)

    @property
    def path(self) -> Path:
        return Path(self.directory) / f"{self.id}.csv"

    @property
    def rejects_path(self) -> Path:
        return Path(self.directory) / f"{self.id}.rejects.csv"

    @property
    def _state_path(self) -> Path:
        return Path(self.directory) / f"{self.id}.json"

    def save(self) -> None:
        """Write the state whole (a reader never sees half of it)."""
        partial = self._state_path.with_suffix(".json.part")
        partial.write_text(json.dumps(asdict(self)), encoding="utf-8")
        os.replace(partial, self._state_path)


def default_directory() -> Path:
    return Path(tempfile.gettempdir()) / "campaign-engine-console-uploads"


class UploadStore:
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def new(self, campaign_id: str, name: str, by: str) -> Upload:
        self.directory.mkdir(parents=True, exist_ok=True)
        self._sweep()
        upload = Upload(
            secrets.token_urlsafe(12), campaign_id, name[:200] or "upload.csv", by,
            str(self.directory),
        )  # fmt: skip
        upload.save()
        return upload

    def get(self, upload_id: str) -> Upload | None:
        if not _ID.match(upload_id):
            return None
        try:
            data = json.loads((self.directory / f"{upload_id}.json").read_text("utf-8"))
        except (OSError, ValueError):
            return None
        return Upload(**data)

    def forget(self, upload: Upload) -> None:
        for path in (
            upload.path,
            upload.rejects_path,
            Path(upload.directory) / f"{upload.id}.json",
        ):
            path.unlink(missing_ok=True)

    def _sweep(self) -> None:
        cutoff = time.time() - KEEP_SECONDS
        for path in self.directory.iterdir():
            try:
                if path.stat().st_mtime < cutoff:
                    path.unlink()
            except OSError:
                continue
