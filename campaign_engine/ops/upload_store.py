"""Where an uploaded contact list waits and how its import is going, for the console and the
API alike: one directory per upload under ``[api] upload_dir`` (alias ``[ops] upload_dir``),
so every ``serve`` process that sees the folder sees every upload, whichever one (and
whichever door, console or API) received it.

Per upload ``ID/``: ``upload.csv`` (streamed to disk as it arrives, removed once imported),
``rejects.csv`` and ``status.json`` (who, into which campaign, where it is, the import's
running totals), replaced whole at each write so a reader never sees half of it. Uploads
untouched for a day are swept when a new one arrives.

States: ``receiving`` → ``received`` (the console's preview waits for the operator) →
``importing`` → ``done``; or ``cut_off`` (the body stopped before its end: nothing
imported), ``refused`` (the importer refused the file whole), ``failed``.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from campaign_engine.contacts.importer import ImportSummary
from campaign_engine.db.models import utcnow

CSV_NAME, REJECTS_NAME, STATUS_NAME = "upload.csv", "rejects.csv", "status.json"
KEEP_SECONDS = 86_400
PROGRESS_EVERY = 0.5  # seconds between status writes while importing
OVER = frozenset({"done", "cut_off", "refused", "failed"})


class Upload(BaseModel):
    """One upload's status file."""

    id: str
    campaign_id: str
    name: str = "upload.csv"
    by: str = ""
    directory: str = Field("", exclude=True)
    state: str = "receiving"
    received_bytes: int = 0
    expected_rows: int = 0
    rows: int = 0
    imported: int = 0
    rejected: int = 0
    detail: str | None = None
    # ``ImportSummary.to_dict()`` as of the last written batch.
    summary: dict[str, Any] = Field(default_factory=dict)
    created_at: datetime
    updated_at: datetime

    @property
    def folder(self) -> Path:
        return Path(self.directory)

    @property
    def path(self) -> Path:
        return self.folder / CSV_NAME

    @property
    def rejects_path(self) -> Path:
        return self.folder / REJECTS_NAME

    @property
    def started(self) -> bool:
        return self.state not in ("receiving", "received")

    @property
    def done(self) -> bool:
        return self.state in OVER

    @property
    def error(self) -> str | None:
        return self.detail if self.state in ("cut_off", "refused", "failed") else None

    def save(self) -> None:
        """Replace the status file whole (a reader never sees half of one)."""
        self.updated_at = utcnow()
        partial = self.folder / (STATUS_NAME + ".tmp")
        partial.write_text(self.model_dump_json(), encoding="utf-8")
        os.replace(partial, self.folder / STATUS_NAME)

    def count(self, summary: ImportSummary) -> None:
        self.rows, self.imported = summary.rows, summary.imported
        self.rejected = sum(summary.rejected.values())
        self.summary = summary.to_dict()

    def progress_writer(self) -> Any:
        """A progress callback for ``import_csv``: counts every batch, writes at most every
        ``PROGRESS_EVERY`` seconds."""
        last = 0.0

        def progress(summary: ImportSummary) -> None:
            nonlocal last
            self.count(summary)
            if time.monotonic() - last >= PROGRESS_EVERY:
                last = time.monotonic()
                self.save()

        return progress

    def end(self, state: str, detail: str | None = None) -> None:
        """The import is over: the file goes, the status stays."""
        self.state, self.detail = state, detail
        self.path.unlink(missing_ok=True)
        self.save()


def root(upload_dir: str) -> Path:
    return (
        Path(upload_dir) if upload_dir else Path(tempfile.gettempdir()) / "campaign-engine-uploads"
    )


def _valid_id(upload_id: str) -> bool:
    try:
        return str(uuid.UUID(upload_id)) == upload_id
    except ValueError:
        return False


class UploadStore:
    def __init__(self, upload_dir: str) -> None:
        self.directory = root(upload_dir)

    def new(self, campaign_id: str, name: str, by: str) -> Upload:
        self.directory.mkdir(parents=True, exist_ok=True)
        self.sweep()
        upload_id = str(uuid.uuid4())
        folder = self.directory / upload_id
        folder.mkdir()
        now = utcnow()
        upload = Upload(
            id=upload_id, campaign_id=campaign_id, name=name[:200] or "upload.csv", by=by,
            directory=str(folder), created_at=now, updated_at=now,
        )  # fmt: skip
        upload.save()
        return upload

    def get(self, upload_id: str) -> Upload | None:
        if not _valid_id(upload_id):
            return None
        folder = self.directory / upload_id
        try:
            data = json.loads((folder / STATUS_NAME).read_text("utf-8"))
        except (OSError, ValueError):
            return None
        return Upload.model_validate({**data, "directory": str(folder)})

    def forget(self, upload: Upload) -> None:
        shutil.rmtree(upload.folder, ignore_errors=True)

    def sweep(self, now: float | None = None) -> None:
        """Remove uploads whose status has not changed for ``KEEP_SECONDS`` (only uploads'
        own folders: anything else in the directory is left alone)."""
        cutoff = (time.time() if now is None else now) - KEEP_SECONDS
        for folder in self.directory.iterdir():
            if not _valid_id(folder.name):
                continue
            try:
                changed = (folder / STATUS_NAME).stat().st_mtime
            except OSError:
                changed = folder.stat().st_mtime
            if changed < cutoff:
                shutil.rmtree(folder, ignore_errors=True)
