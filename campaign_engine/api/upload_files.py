"""An upload on disk: the received CSV, its reject report and its status (a small JSON file
any server process on the machine can read), under ``[api] upload_dir``.

The body is written as it arrives, one chunk at a time, so memory stays flat whatever the
file's size; a multipart body is parsed as it streams (python-multipart) and only its
``file`` part is kept. Arriving past ``[api] upload_max_bytes`` stops the upload (413).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO

from pydantic import BaseModel
from python_multipart import MultipartParser
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import parse_options_header

from campaign_engine.api.body import too_large
from campaign_engine.api.problems import ApiProblem
from campaign_engine.db.models import utcnow

CSV_NAME, REJECTS_NAME, STATUS_NAME = "upload.csv", "rejects.csv", "status.json"
FILE_FIELD = "file"


class UploadStatus(BaseModel):
    """Where an upload is: ``receiving`` → ``importing`` → ``done``; or ``cut_off`` (the
    body stopped before its end: nothing imported), ``refused`` (the importer refused the
    file whole), ``failed``."""

    id: str
    campaign_id: str
    state: str
    received_bytes: int = 0
    rows: int = 0
    imported: int = 0
    rejected: int = 0
    detail: str | None = None
    summary: dict[str, Any] | None = None
    rejects_url: str | None = None
    created_at: datetime
    updated_at: datetime


def root(upload_dir: str) -> Path:
    base = Path(upload_dir) if upload_dir else Path(tempfile.gettempdir())
    return base / "campaign-engine-uploads"


def folder(upload_dir: str, upload_id: str) -> Path:
    return root(upload_dir) / upload_id


def write_status(where: Path, status: UploadStatus) -> None:
    """Replace the status file whole (a reader never sees half of one)."""
    status.updated_at = utcnow()
    temporary = where / (STATUS_NAME + ".tmp")
    temporary.write_text(status.model_dump_json(), encoding="utf-8")
    os.replace(temporary, where / STATUS_NAME)


def read_status(upload_dir: str, upload_id: str) -> UploadStatus:
    path = folder(upload_dir, upload_id) / STATUS_NAME
    if not upload_id.replace("-", "").isalnum() or not path.is_file():
        raise LookupError(f"upload {upload_id} not found")
    return UploadStatus.model_validate(json.loads(path.read_text(encoding="utf-8")))


def forget(where: Path) -> None:
    shutil.rmtree(where, ignore_errors=True)


class _Limited:
    """Writes to ``out`` and counts, refusing past ``limit`` bytes."""

    def __init__(self, out: BinaryIO, limit: int) -> None:
        self.out, self.limit, self.size = out, limit, 0

    def write(self, data: bytes) -> None:
        self.size += len(data)
        if self.size > self.limit:
            raise too_large(self.limit, "upload")
        self.out.write(data)


async def receive(
    stream: AsyncIterator[bytes], content_type: str, out: BinaryIO, limit: int
) -> int:
    """Write the body's CSV to ``out``; the bytes of CSV written."""
    media, options = parse_options_header(content_type)
    sink = _Limited(out, limit)
    if media != b"multipart/form-data":
        async for chunk in stream:
            sink.write(chunk)
        return sink.size
    boundary = options.get(b"boundary")
    if not boundary:
        raise ApiProblem(400, "multipart/form-data without a boundary")
    parts = _FileParts(sink)
    parser = MultipartParser(boundary, parts.callbacks())  # type: ignore[arg-type]
    try:
        async for chunk in stream:
            parser.write(chunk)
        parser.finalize()
    except MultipartParseError as exc:
        raise ApiProblem(400, f"the multipart body cannot be read: {exc}") from None
    if not parts.found:
        raise ApiProblem(
            422, f"the multipart body has no part named {FILE_FIELD!r}", kind="no-file-part"
        )
    return sink.size


class _FileParts:
    """Keeps the data of the part named ``file``, drops every other part."""

    def __init__(self, sink: _Limited) -> None:
        self.sink = sink
        self.header = b""
        self.headers: dict[bytes, bytes] = {}
        self.name = b""
        self.in_file = False
        self.found = False

    def callbacks(self) -> dict[str, Any]:
        return {
            "on_part_begin": self._begin,
            "on_header_field": self._field,
            "on_header_value": self._value,
            "on_headers_finished": self._headers_done,
            "on_part_data": self._data,
        }

    def _begin(self) -> None:
        self.headers, self.name, self.in_file = {}, b"", False

    def _field(self, data: bytes, start: int, end: int) -> None:
        self.header = data[start:end].lower()

    def _value(self, data: bytes, start: int, end: int) -> None:
        self.headers[self.header] = self.headers.get(self.header, b"") + data[start:end]

    def _headers_done(self) -> None:
        _, options = parse_options_header(self.headers.get(b"content-disposition", b""))
        self.in_file = options.get(b"name") == FILE_FIELD.encode()
        self.found = self.found or self.in_file

    def _data(self, data: bytes, start: int, end: int) -> None:
        if self.in_file:
            self.sink.write(data[start:end])
