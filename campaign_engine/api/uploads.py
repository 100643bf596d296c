"""``/campaigns/{id}/uploads``: a contact list uploaded as a CSV request body (or multipart,
part ``file``), imported by the same importer, with the same options, as ``contacts import``.

The body is streamed to disk first (flat memory; ``[api] upload_max_bytes``), then imported
in the background while ``GET /uploads/{id}`` shows the progress; ``?wait=true`` answers
only once the import is over. An upload whose body stops before its end (the client went
away) imports nothing and says so in its status: the file was incomplete, and importing the
rows that happened to arrive would leave a list nobody asked for. The reject report is
``GET /uploads/{id}/rejects``.
"""

from __future__ import annotations

import asyncio
import logging

from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import ClientDisconnect
from starlette.responses import FileResponse

from campaign_engine.api.body import declared_length, too_large
from campaign_engine.api.problems import ApiProblem, invalid
from campaign_engine.api.registry import Call, Operation
from campaign_engine.api.upload_files import UploadStatus, receive, status_of
from campaign_engine.campaigns.service import get_campaign
from campaign_engine.contacts.importer import ImportOptions, import_csv
from campaign_engine.journal.audit import record
from campaign_engine.ops.tokens import Scope
from campaign_engine.ops.upload_store import Upload, UploadStore
from campaign_engine.runtime import Runtime
from campaign_engine.states import CAMPAIGN_TERMINAL
from campaign_engine.vocobase.errors import VocobaseError

TAG = "contacts"
log = logging.getLogger(__name__)
_RUNNING: set[asyncio.Task[None]] = set()


class UploadQuery(BaseModel):
    """The options of ``contacts import``."""

    model_config = ConfigDict(extra="forbid")

    phone_column: str | None = Field(None, max_length=200)
    map: list[str] = Field(default_factory=list, description="COLUMN=VARIABLE (repeatable).")
    exclude: list[str] = Field(default_factory=list, description="Column not to import.")
    keep: list[str] = Field(
        default_factory=list, description="Column kept for the export, never sent to the agent."
    )
    drop_undeclared: bool = False
    default_region: str | None = Field(None, min_length=2, max_length=2)
    encoding: str | None = Field(None, max_length=40)
    delimiter: str | None = Field(None, max_length=10)
    vanity_numbers: bool = False
    dry_run: bool = False
    wait: bool = Field(False, description="Answer once the import is over.")


def options_of(query: UploadQuery, runtime: Runtime) -> ImportOptions:
    mapping = {}
    for item in query.map:
        column, sep, variable = item.partition("=")
        if not sep or not column.strip() or not variable.strip():
            raise invalid("query.map", f"expected COLUMN=VARIABLE, got {item!r}")
        mapping[column.strip()] = variable.strip()
    return ImportOptions(
        phone_column=query.phone_column,
        mapping=mapping,
        exclude=tuple(query.exclude),
        default_region=query.default_region,
        encoding=query.encoding,
        delimiter=query.delimiter,
        dry_run=query.dry_run,
        engine_variables=(runtime.settings.dialer.correlation_variable,),
        drop_undeclared=query.drop_undeclared,
        keep=tuple(query.keep),
        vanity_numbers=query.vanity_numbers,
    )


def agent_lookup(runtime: Runtime) -> object:
    async def lookup(agent_id: str) -> list[str]:
        try:
            agent = await runtime.vocobase.get_agent(agent_id)
        except VocobaseError as exc:
            raise ValueError(
                f"nothing imported; cannot check the columns against agent {agent_id}: {exc}"
            ) from exc
        return list(agent.variables)

    return lookup if runtime.settings.vocobase.api_key.get_secret_value().strip() else None


async def check_campaign(call: Call, campaign_id: str) -> None:
    async with call.runtime.sessions() as session:
        campaign = await get_campaign(session, campaign_id)
    if campaign.state in CAMPAIGN_TERMINAL:
        raise ApiProblem(
            409,
            f"campaign {campaign_id} is {campaign.state}: nothing imported, since a "
            f"{campaign.state} campaign never calls again",
        )


def store(call: Call) -> UploadStore:
    return UploadStore(call.runtime.settings.api.upload_dir)


async def upload_contacts(call: Call) -> UploadStatus:
    campaign_id: str = call.path["campaign_id"]
    limit = call.runtime.settings.api.upload_max_bytes
    options = options_of(call.query, call.runtime)
    length = declared_length(call.request)
    if length is not None and length > limit:
        raise too_large(limit, "upload")
    await check_campaign(call, campaign_id)
    uploads = store(call)
    upload = uploads.new(campaign_id, "upload.csv", call.actor)
    content_type = call.request.headers.get("content-type", "text/csv")
    try:
        with upload.path.open("wb") as out:
            upload.received_bytes = await receive(call.request.stream(), content_type, out, limit)
    except ClientDisconnect:
        upload.received_bytes = upload.path.stat().st_size
        upload.end(
            "cut_off",
            f"the upload was cut off after {upload.received_bytes} bytes: nothing imported "
            "(the campaign has exactly the contacts it had before); send the whole file again",
        )
        raise
    except ApiProblem:
        uploads.forget(upload)
        raise
    upload.state = "importing"
    upload.save()
    await record_upload(call, campaign_id, upload)
    task = asyncio.create_task(run_import(call.runtime, upload, options))
    _RUNNING.add(task)
    task.add_done_callback(_RUNNING.discard)
    if call.query.wait:
        await asyncio.shield(task)
        upload = uploads.get(upload.id) or upload
        if upload.state == "refused":
            raise ApiProblem(422, upload.detail or "refused", kind="import-refused")
    return status_of(upload)


async def record_upload(call: Call, campaign_id: str, status: Upload) -> None:
    async with call.runtime.sessions() as session, session.begin():
        await record(
            session,
            actor=call.actor,
            action="contacts-upload",
            target_type="campaign",
            target_id=campaign_id,
            details={"upload_id": status.id, "bytes": status.received_bytes},
        )


async def run_import(runtime: Runtime, upload: Upload, options: ImportOptions) -> None:
    """Import the received file; the status file follows its progress."""
    state, detail = "failed", None
    try:
        summary = await import_csv(
            runtime.sessions,
            upload.campaign_id,
            upload.path,
            options,
            rejects_path=upload.rejects_path,
            progress=upload.progress_writer(),
            agent_lookup=agent_lookup(runtime),  # type: ignore[arg-type]
        )
        upload.count(summary)
        state = "done"
    except ValueError as exc:
        state, detail = "refused", str(exc)
    except Exception as exc:  # the status must say it failed; the log has the rest
        detail = f"{type(exc).__name__}: {exc}"
        log.exception("upload %s into campaign %s failed", upload.id, upload.campaign_id)
    finally:
        upload.end(state, detail)


def _found(call: Call) -> Upload:
    upload = store(call).get(call.path["upload_id"])
    if upload is None:
        raise LookupError(f"upload {call.path['upload_id']} not found")
    return upload


async def get_upload(call: Call) -> UploadStatus:
    return status_of(_found(call))


async def get_upload_rejects(call: Call) -> FileResponse:
    upload = _found(call)
    if upload.state != "done" or not upload.rejects_path.is_file():
        raise LookupError(f"upload {upload.id} has no reject report (state {upload.state})")
    return FileResponse(
        upload.rejects_path, media_type="text/csv", filename=f"rejects-{upload.id}.csv"
    )


OPERATIONS = [
    Operation("POST", "/campaigns/{campaign_id}/uploads", upload_contacts, Scope.OPERATE,
              "Upload a CSV contact list (streamed; imported like `contacts import`)", TAG,
              query=UploadQuery, response=UploadStatus, status=202, creates=True,
              transactional=False, raw_body=("text/csv", "multipart/form-data")),
    Operation("GET", "/uploads/{upload_id}", get_upload, Scope.READ,
              "An upload's progress and, once done, its summary", TAG, response=UploadStatus,
              transactional=False),
    Operation("GET", "/uploads/{upload_id}/rejects", get_upload_rejects, Scope.READ,
              "The reject report of a finished upload (CSV, importable again once fixed)",
              TAG, transactional=False, produces=("text/csv",)),
]  # fmt: skip
