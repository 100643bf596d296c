"""A big contact list uploaded through the API against the same list imported by the CLI:
rows per second of each (target: the API at least 0.8x the CLI's), and the server's memory
while the upload streams in and imports (target: flat, whatever the file's size).

Both import the same generated CSV (``bench.ingest.generate``: messy numbers, rejects,
duplicates) into campaigns of one throwaway PostgreSQL database. The CLI runs
``contacts import`` as a child process; the API run starts ``campaign-engine serve`` as a
child process and POSTs the file, streamed in 1 MiB chunks, to
``/api/v1/campaigns/{id}/uploads?wait=true``; its time is the whole request (upload and
import). The server's RSS (its own process and its number-checking workers) is sampled from
/proc every 50 ms: ``server_rss_mb`` gives it before, at its peak, and the peak's growth
per 100k rows between this size and the file's first tenth, which stays near zero when
memory does not grow with the file.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, make_url, select, text, update

from bench import ingest
from bench.serve_process import serve, wait_ready, write_config
from bench.support import free_port
from campaign_engine.campaigns import service
from campaign_engine.db.models import Campaign, Contact
from campaign_engine.db.session import create_engine, session_factory

FULL_ROWS = 1_000_000
SMOKE_ROWS = 20_000
TOKEN = "bench-api-upload-token"
CHUNK = 1024 * 1024


def _rss_kb(root: int) -> int:
    """Resident memory of ``root`` and its descendants now."""
    total = 0
    for pid in ingest._descendants(root):
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total


async def _sample(pid: int, samples: list[int], stop: asyncio.Event) -> None:
    while not stop.is_set():
        samples.append(_rss_kb(pid))
        await asyncio.sleep(0.05)


async def _file_chunks(path: Path) -> AsyncIterator[bytes]:
    with path.open("rb") as handle:
        while chunk := await asyncio.to_thread(handle.read, CHUNK):
            yield chunk


async def _api_campaign(url: str, like: str) -> str:
    """A campaign for the upload whose agent declares the variables the CLI's import made
    (the server would otherwise ask Vocobase, which is not there)."""
    engine = create_engine(url)
    try:
        async with session_factory(engine)() as session, session.begin():
            one = await session.scalar(
                select(Contact.variables).where(Contact.campaign_id == like).limit(1)
            )
            campaign = await service.create_campaign(
                session, name="api upload bench", agent_id=ingest.AGENT_ID, default_region="IN"
            )
            await session.execute(
                update(Campaign)
                .where(Campaign.id == campaign.id)
                .values(agent_variables=sorted(one or {}))
            )
            return campaign.id
    finally:
        await engine.dispose()


async def _stored(url: str, campaign_id: str) -> int:
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            count = await connection.scalar(
                select(func.count()).select_from(Contact).where(Contact.campaign_id == campaign_id)
            )
            return int(count or 0)
    finally:
        await engine.dispose()


async def _cli_campaign(url: str) -> str:
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            found = await connection.scalar(select(Campaign.id).limit(1))
            return str(found)
    finally:
        await engine.dispose()


async def _upload(url: str, csv_path: Path, rows: int, workdir: Path) -> dict[str, Any]:
    campaign_id = await _api_campaign(url, await _cli_campaign(url))
    port = free_port()
    config = workdir / "serve.toml"
    write_config(config, url, port, f"bench-api-{uuid.uuid4().hex[:8]}", "whsec_bench")
    with config.open("a", encoding="utf-8") as out:
        out.write(f'[ops]\ntoken = "{TOKEN}"\n[api]\nupload_dir = "{workdir / "uploads"}"\n')
    log = workdir / "serve.log"
    with serve(config, log) as proc:
        await wait_ready(port, proc, log)
        before = _rss_kb(proc.pid)
        samples: list[int] = []
        stop = asyncio.Event()
        sampler = asyncio.create_task(_sample(proc.pid, samples, stop))
        started = time.perf_counter()
        async with httpx.AsyncClient(timeout=None) as client:
            response = await client.post(
                f"http://127.0.0.1:{port}/api/v1/campaigns/{campaign_id}/uploads",
                params={"wait": "true"},
                content=_file_chunks(csv_path),
                headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "text/csv"},
            )
        seconds = time.perf_counter() - started
        stop.set()
        await sampler
    status = response.json()
    stored = await _stored(url, campaign_id)
    tenth = samples[: max(1, len(samples) // 10)]
    return {
        "rows": rows,
        "seconds": round(seconds, 2),
        "rows_per_s": round(rows / seconds),
        "status": response.status_code,
        "imported": status.get("imported"),
        "server_rss_mb": {
            "before": round(before / 1024, 1),
            "peak": round(max(samples, default=before) / 1024, 1),
            "peak_in_first_tenth": round(max(tenth, default=before) / 1024, 1),
        },
        "ok": response.status_code == 202
        and status.get("state") == "done"
        and status.get("rows") == rows
        and stored == status.get("imported"),
    }


async def run(smoke: bool) -> dict[str, Any]:
    """``BENCH_API_UPLOAD_ROWS`` sets another size."""
    rows = int(os.environ.get("BENCH_API_UPLOAD_ROWS") or (SMOKE_ROWS if smoke else FULL_ROWS))
    name = f"ce_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(ingest.ADMIN_URL).execution_options(isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as connection:
            await connection.execute(text(f'CREATE DATABASE "{name}"'))
    except OSError as exc:
        await admin.dispose()
        return {"skipped": f"no PostgreSQL at {make_url(ingest.ADMIN_URL)!r}: {exc}"}
    url = make_url(ingest.ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    try:
        with tempfile.TemporaryDirectory(prefix="ce-bench-api-upload-") as directory:
            workdir = Path(directory)
            csv_path = workdir / "contacts.csv"
            await asyncio.to_thread(ingest.generate, csv_path, rows)
            cli = await ingest._import_into(url, csv_path, rows, workdir)
            api = await _upload(url, csv_path, rows, workdir)
            file_mb = round(csv_path.stat().st_size / 2**20, 1)
    finally:
        async with admin.connect() as connection:
            await connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()
    ratio = api["rows_per_s"] / cli["rows_per_s"] if cli.get("rows_per_s") else 0.0
    return {
        "ok": bool(cli.get("ok")) and bool(api.get("ok")),
        "rows": rows,
        "file_mb": file_mb,
        "cli": {k: cli[k] for k in ("seconds", "rows_per_s", "peak_rss_mb") if k in cli},
        "api": api,
        "api_to_cli": round(ratio, 2),
        "target_api_to_cli": 0.8,
    }
