"""Receiving an upload's body into the upload store shared with the console
(:mod:`campaign_engine.ops.upload_store`), and what the API shows of an upload.

The body is written as it arrives, one chunk at a time, so memory stays flat whatever the
file's size; a multipart body is parsed as it streams (python-multipart) and only its
``file`` part is kept. Arriving past ``[api] upload_max_bytes`` stops the upload (413).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any, BinaryIO

from pydantic import BaseModel
from python_multipart import MultipartParser
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import parse_options_header

from campaign_engine.api.body import too_large
from campaign_engine.api.problems import ApiProblem
from campaign_engine.ops.upload_store import Upload

FILE_FIELD = "file"


class UploadStatus(BaseModel):
    """Where an upload is: ``receiving`` → ``importing`` → ``done``; or ``cut_off`` (the
    body stopped before its end: nothing imported), ``refused`` (the importer refused the
    file whole), ``failed``. An upload made in the console is ``received`` while its
    preview waits for the operator."""

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


def status_of(upload: Upload) -> UploadStatus:
    """What the API shows of an upload, whichever door it came in by."""
    summary = {**upload.summary, "file": f"upload {upload.id}"} if upload.state == "done" else None
    has_rejects = upload.state == "done" and upload.rejected
    return UploadStatus(
        id=upload.id, campaign_id=upload.campaign_id, state=upload.state,
        received_bytes=upload.received_bytes, rows=upload.rows, imported=upload.imported,
        rejected=upload.rejected, detail=upload.detail, summary=summary,
        rejects_url=f"/api/v1/uploads/{upload.id}/rejects" if has_rejects else None,
        created_at=upload.created_at, updated_at=upload.updated_at,
    )  # fmt: skip


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
