"""Uploading a contact list in the console: the file is streamed to the upload store shared
with the API (:mod:`upload_store`, within ``[api] upload_max_bytes``), previewed (the
detected phone column, what each column becomes, the agent's declared variables checked),
then imported by the CLI's importer in the background while a page shows its progress; the
rejected rows are there to download. An upload sent through the API shows here too.

Nothing is imported before the operator has seen the preview and said so.
"""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path

from starlette.datastructures import UploadFile
from starlette.requests import ClientDisconnect, Request
from starlette.responses import FileResponse, JSONResponse, RedirectResponse, Response

from campaign_engine.contacts.agent_contract import AgentLookup
from campaign_engine.contacts.columns import ColumnError
from campaign_engine.contacts.csv_source import CsvFormatError
from campaign_engine.contacts.importer import (
    ImportOptions,
    ImportRefused,
    import_csv,
)
from campaign_engine.db.models import Campaign
from campaign_engine.journal import audit
from campaign_engine.ops import web_common as common
from campaign_engine.ops import web_pages
from campaign_engine.ops.upload_store import Upload, UploadStore
from campaign_engine.ops.web_limits import BodyTooLarge, declared_too_large
from campaign_engine.ops.web_preview import Preview, options_from_form, preview
from campaign_engine.runtime import Runtime
from campaign_engine.vocobase.errors import VocobaseError

PREVIEW_ROWS = 5
log = logging.getLogger(__name__)


def uploads(request: Request) -> UploadStore:
    return UploadStore(common.settings(request).api.upload_dir)


# The imports this process runs (a task must be referenced until it ends).
RUNNING: set[asyncio.Task[None]] = set()


def agent_lookup(request: Request) -> AgentLookup:
    """The agent's declared variables, asked of Vocobase as the CLI asks (same refusal)."""
    client = common.runtime(request).vocobase

    async def lookup(agent_id: str) -> list[str]:
        try:
            agent = await client.get_agent(agent_id)
        except VocobaseError as exc:
            raise ImportRefused(
                f"nothing imported; cannot check the columns against agent {agent_id}: {exc}"
            ) from exc
        return list(agent.variables)

    return lookup


async def _campaign(request: Request, campaign_id: str) -> Campaign | None:
    async with common.runtime(request).sessions() as session:
        return await session.get(Campaign, campaign_id)


async def upload_page(request: Request) -> Response:
    campaign = await _campaign(request, request.path_params["campaign_id"])
    if campaign is None:
        return common.message(request, "not found", "no such campaign", 404)
    page = web_pages.render(
        "upload.html", "upload contacts", common.chrome(request), campaign=campaign
    )
    return common.page(request, page)


async def receive(request: Request) -> Response:
    """The file as the request body (the page's script streams it: answers where its
    preview is, as JSON), or as a plain form's file field (no script: redirected to the
    preview). Either way it goes to disk, never whole into memory, within the limit."""
    limit = common.settings(request).api.upload_max_bytes
    plain_form = request.headers.get("content-type", "").startswith("multipart/form-data")
    campaign = await _campaign(request, request.path_params["campaign_id"])
    if campaign is None:
        return _refused(request, plain_form, "no such campaign", 404)
    too_large = f"the file is over {limit} bytes"
    if declared_too_large(request, limit):
        return _refused(request, plain_form, too_large, 413)
    if plain_form and "content-length" not in request.headers:
        return _refused(request, plain_form, "a form upload must say its length", 411)
    name = request.query_params.get("name", "")
    upload = uploads(request).new(campaign.id, name, common.actor(request))
    try:
        if plain_form:
            upload.name = await _save_form_file(request, upload.path) or upload.name
        else:
            await _save_body(request, upload.path, limit)
        upload.state, upload.received_bytes = "received", upload.path.stat().st_size
        upload.save()
    except ClientDisconnect:
        got = upload.path.stat().st_size if upload.path.exists() else 0
        upload.received_bytes = got
        upload.end("cut_off", f"the upload was cut off after {got} bytes: nothing imported")
        raise
    except (BodyTooLarge, ValueError) as exc:
        await asyncio.to_thread(uploads(request).forget, upload)
        if isinstance(exc, BodyTooLarge):
            return _refused(request, plain_form, too_large, 413)
        return _refused(request, plain_form, str(exc), 422)
    preview_url = f"/ops/uploads/{upload.id}"
    if plain_form:
        return RedirectResponse(preview_url, status_code=303)
    return JSONResponse({"preview": preview_url})


def _refused(request: Request, plain_form: bool, text: str, status: int) -> Response:
    if plain_form:
        return common.message(request, "upload refused", text, status)
    return JSONResponse({"error": text}, status_code=status)


async def _save_body(request: Request, path: Path, limit: int) -> None:
    size = 0
    with path.open("wb") as out:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise BodyTooLarge(limit)
            out.write(chunk)


async def _save_form_file(request: Request, path: Path) -> str | None:
    """The form's ``file`` field (its length was checked first), copied to ``path``;
    the name the browser gave it."""
    async with request.form(max_files=1, max_fields=4) as form:
        sent = form.get("file")
        if not isinstance(sent, UploadFile) or not sent.filename:
            raise ValueError("choose a CSV file to upload")
        with path.open("wb") as out:
            while chunk := await sent.read(1 << 20):
                out.write(chunk)
        return sent.filename


def _found(request: Request) -> Upload | None:
    return uploads(request).get(request.path_params["upload_id"])


async def _preview(request: Request, upload: Upload, form: dict[str, str] | None) -> Preview:
    campaign = await _campaign(request, upload.campaign_id)
    assert campaign is not None
    return await preview(
        common.runtime(request).sessions,
        campaign,
        upload.path,
        form,
        lookup=agent_lookup(request),
        engine_variables=(common.settings(request).dialer.correlation_variable,),
        rows=PREVIEW_ROWS,
    )


async def _preview_page(
    request: Request, upload: Upload, shown: Preview, error: str | None, status: int = 200
) -> Response:
    campaign = await _campaign(request, upload.campaign_id)
    page = web_pages.render(
        "upload_preview.html",
        "check the columns",
        common.chrome(request),
        upload=upload,
        campaign=campaign,
        preview=shown,
        error=error,
        default_region=(campaign.default_region if campaign else None) or "",
    )
    return common.page(request, page, status)


async def preview_page(request: Request) -> Response:
    upload = _found(request)
    if upload is None:
        return common.message(
            request, "not found", "no such upload (it ended with the server)", 404
        )
    if upload.state != "received":  # imported already, or sent through the API
        return RedirectResponse(f"/ops/uploads/{upload.id}/progress", status_code=303)
    try:
        shown = await _preview(request, upload, None)
    except (CsvFormatError, ImportRefused) as exc:
        return common.message(request, "cannot read the file", str(exc), 422)
    return await _preview_page(request, upload, shown, None)


async def start_import(request: Request) -> Response:
    """Check the columns as chosen; import (in the background) only when they pass."""
    upload = _found(request)
    if upload is None:
        return common.message(request, "not found", "no such upload", 404)
    if upload.state != "received":
        return RedirectResponse(f"/ops/uploads/{upload.id}/progress", status_code=303)
    form = await common.form(request)
    try:
        shown = await _preview(request, upload, form)
    except (CsvFormatError, ImportRefused) as exc:
        return common.message(request, "cannot read the file", str(exc), 422)
    if shown.problem or form.get("step") != "import":
        return await _preview_page(request, upload, shown, None, 422 if shown.problem else 200)
    try:
        options = options_from_form(
            form, shown, common.settings(request).dialer.correlation_variable
        )
    except (ColumnError, ValueError) as exc:
        return await _preview_page(request, upload, shown, str(exc), 422)
    upload.expected_rows, upload.state = shown.expected_rows, "importing"
    upload.save()
    task = asyncio.create_task(
        _run(common.runtime(request), agent_lookup(request), upload, options)
    )
    RUNNING.add(task)
    task.add_done_callback(RUNNING.discard)
    return RedirectResponse(f"/ops/uploads/{upload.id}/progress", status_code=303)


async def _run(
    runtime: Runtime, lookup: AgentLookup, upload: Upload, options: ImportOptions
) -> None:
    """The import, as ``contacts import`` runs it; audited under the uploader's name."""
    state, detail = "failed", None
    try:
        summary = await import_csv(
            runtime.sessions, upload.campaign_id, upload.path, options,
            rejects_path=upload.rejects_path, progress=upload.progress_writer(),
            agent_lookup=lookup,
        )  # fmt: skip
        upload.count(summary)
        async with runtime.sessions() as session, session.begin():
            await audit.record(
                session,
                actor=upload.by,
                action="contacts.import",
                target_type="campaign",
                target_id=upload.campaign_id,
                details={**summary.to_dict(), "file": upload.name},
            )
        state = "done"
    except (ImportRefused, ColumnError, CsvFormatError, ValueError) as exc:
        state, detail = "refused", str(exc)
    except Exception as exc:  # the status must say it failed; the log has the rest
        detail = f"{type(exc).__name__}: {exc}"
        log.exception("upload %s into campaign %s failed", upload.id, upload.campaign_id)
    finally:
        upload.end(state, detail)


async def progress_page(request: Request) -> Response:
    upload = _found(request)
    if upload is None:
        return common.message(request, "not found", "no such upload", 404)
    summary = upload.summary
    campaign = await _campaign(request, upload.campaign_id)
    by_reason = sorted(summary.get("rejected_by_reason", {}).items(), key=lambda kv: -kv[1])
    job = {
        "id": upload.id,
        "name": upload.name,
        "campaign_id": upload.campaign_id,
        "campaign_name": campaign.name if campaign else upload.campaign_id,
        "rows": upload.rows,
        "imported": upload.imported,
        "rejected": upload.rejected,
        "by_reason": by_reason,
        "kept": summary.get("kept_columns", []),
        "expected_rows": upload.expected_rows,
        "done": upload.done,
        "error": upload.error,
    }
    title = "import finished" if upload.done else "importing"
    refresh = None if upload.done else 1
    page = web_pages.render(
        "upload_progress.html", title, common.chrome(request), job=job, refresh=refresh
    )
    return common.page(request, page)


async def progress_json(request: Request) -> Response:
    upload = _found(request)
    if upload is None:
        return JSONResponse({"error": "no such upload"}, status_code=404)
    data = upload.summary
    return Response(
        json.dumps({**data, "done": upload.done, "error": upload.error}),
        media_type="application/json",
    )


async def rejects(request: Request) -> Response:
    upload = _found(request)
    if upload is None or not upload.done or not upload.rejects_path.exists():
        return common.message(request, "not found", "no reject report for this upload", 404)
    name = Path(upload.name).stem + "-rejects.csv"
    return FileResponse(upload.rejects_path, media_type="text/csv", filename=name)
