"""One ``/metrics`` scrape at 1,000,000 contacts (``--smoke``: 50,000), before and after.

Seeded into a throwaway PostgreSQL database (COPY) like an operation some weeks in: four
campaigns, half their contacts final, the rest waiting or retrying, a few hundred queued or
in a call; an attempt for every contact called so far and a webhook for most of them.

Two scrapes are timed (p50/p99, milliseconds):

- ``every_scrape``: every count read at each scrape (``metrics_cache_seconds = 0``) — what
  each scrape cost before, when the whole-table counts ran every time;
- ``cached``: the default, where the whole-table counts are read at most once per
  ``metrics_cache_seconds`` and a scrape reads only what is in flight.

The statements a cached scrape sends are captured and EXPLAINed: ``ok`` says none of them
reads contacts, call_attempts or webhook_events with a sequential scan. The two per-scrape
queries of before (queued contacts by state alone, webhook lag by ``processed_at``) are
EXPLAINed too, for comparison.
"""

from __future__ import annotations

import json
import statistics
import time
import uuid
from datetime import timedelta
from typing import Any

import asyncpg
from sqlalchemy import event, make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from bench.support import REDIS_URL, redis_prefix, throwaway_postgres
from campaign_engine.config import Settings, with_overrides
from campaign_engine.db.models import utcnow
from campaign_engine.ops.metrics import render
from campaign_engine.runtime import Runtime

CAMPAIGNS = 4
BIG_TABLES = ("contacts", "call_attempts", "webhook_events")
CONTACT_COLUMNS = [
    "campaign_id", "phone_e164", "region", "timezones", "variables", "state",
    "attempts_count", "next_attempt_at", "last_outcome", "last_error", "source_line",
    "created_at", "updated_at",
]  # fmt: skip
ATTEMPT_COLUMNS = [
    "contact_id", "campaign_id", "attempt_number", "state", "provider", "to_number",
    "call_id", "session_id", "outcome", "deadline_at", "claimed_at", "started_at", "ended_at",
    "updated_at",
]  # fmt: skip
WEBHOOK_COLUMNS = [
    "session_id", "call_id", "event_type", "status", "raw_body", "headers", "duplicates",
    "received_at", "processed_at",
]  # fmt: skip
# What the scrape queries looked like before (run on every scrape, whole tables).
BEFORE = {
    "queued_contacts": "SELECT count(*) FROM contacts WHERE state = 'queued'",
    "webhook_lag": (
        "SELECT received_at, processed_at FROM webhook_events WHERE processed_at >= now() - "
        "interval '5 minutes' ORDER BY processed_at DESC LIMIT 1000"
    ),
}


async def run(smoke: bool) -> dict[str, Any]:
    size = 50_000 if smoke else 1_000_000
    async with throwaway_postgres() as url, redis_prefix() as prefix:
        seeded = time.perf_counter()
        await _seed(url, size)
        seed_seconds = time.perf_counter() - seeded
        settings = with_overrides(
            Settings(),
            database={"url": url},
            redis={"url": REDIS_URL, "prefix": prefix},
            vocobase={"base_url": "http://127.0.0.1:9/api/v2", "api_key": "rg_live_bench"},
        )
        runtime = await Runtime.open(settings)
        try:
            every = with_overrides(settings, server={"metrics_cache_seconds": 0})
            uncached = Runtime(**{**vars(runtime), "settings": every})
            before = await _timed(uncached, 5 if smoke else 10)
            await render(runtime)  # the first scrape reads the whole-table counts
            after = await _timed(runtime, 50 if smoke else 200)
            statements = await _captured(runtime)
            plans = {f"scrape_{i}": await _plan(runtime.engine, sql, params)
                     for i, (sql, params) in enumerate(statements)}  # fmt: skip
            before_plans = {name: await _plan(runtime.engine, sql, ()) for name, sql in
                            BEFORE.items()}  # fmt: skip
        finally:
            await runtime.close()
    scanned = sorted(
        {node for plan in plans.values() for node in plan["nodes"] if _is_big_seq(node)}
    )
    return {
        "ok": not scanned,
        "contacts": size,
        "seed_seconds": round(seed_seconds, 1),
        "every_scrape_ms": before,
        "cached_ms": after,
        "cached_scrape_statements": len(statements),
        "cached_scrape_seq_scans_on_big_tables": scanned,
        "cached_scrape_plans": plans,
        "before_plans": before_plans,
    }


def _is_big_seq(node: str) -> bool:
    return node.startswith("Seq Scan") and node.split(" on ")[-1].split(" ")[0] in BIG_TABLES


async def _timed(runtime: Runtime, scrapes: int) -> dict[str, float]:
    took = []
    for _ in range(scrapes):
        start = time.perf_counter()
        await render(runtime)
        took.append((time.perf_counter() - start) * 1000)
    took.sort()
    return {
        "scrapes": scrapes,
        "p50": round(statistics.median(took), 2),
        "p99": round(took[min(len(took) - 1, round(0.99 * (len(took) - 1)))], 2),
    }


async def _captured(runtime: Runtime) -> list[tuple[str, Any]]:
    """The statements one cached scrape sends to the database, with their parameters."""
    seen: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, statement: str, params: Any, *_: Any) -> None:
        seen.append((statement, params))

    event.listen(runtime.engine.sync_engine, "before_cursor_execute", capture)
    try:
        await render(runtime)
    finally:
        event.remove(runtime.engine.sync_engine, "before_cursor_execute", capture)
    return [(sql, params) for sql, params in seen if sql.lstrip().upper().startswith("SELECT")]


async def _plan(engine: AsyncEngine, statement: str, params: Any) -> dict[str, Any]:
    """How the statement ran (EXPLAIN ANALYZE): its time, and each plan node with the index it
    used, the rows it gave or filtered out and the pages it touched (its own and its
    children's), e.g. ``Index Only Scan on contacts using ix_contacts_due (100 rows, 3 pages)``."""
    async with engine.connect() as conn:
        explain = f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {statement}"
        result = await conn.exec_driver_sql(explain, params)
        plan = result.scalar_one()
    plan = json.loads(plan) if isinstance(plan, str) else plan
    nodes: list[str] = []

    def walk(node: dict[str, Any]) -> None:
        name = node["Node Type"]
        if node.get("Relation Name"):
            name += f" on {node['Relation Name']}"
        if node.get("Index Name"):
            name += f" using {node['Index Name']}"
        read = node.get("Actual Rows", 0) * node.get("Actual Loops", 1)
        read += node.get("Rows Removed by Filter", 0) + node.get("Rows Removed by Index Recheck", 0)
        pages = node.get("Shared Hit Blocks", 0) + node.get("Shared Read Blocks", 0)
        nodes.append(f"{name} ({read} rows, {pages} pages)")
        for child in node.get("Plans", []):
            walk(child)

    walk(plan[0]["Plan"])
    return {
        "sql": " ".join(statement.split())[:90],
        "ms": round(plan[0]["Execution Time"], 2),
        "nodes": nodes,
    }


async def _seed(url: str, size: int) -> None:
    now = utcnow()
    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    conn = await asyncpg.connect(dsn)
    try:
        campaigns = [str(uuid.uuid4()) for _ in range(CAMPAIGNS)]
        for index, campaign_id in enumerate(campaigns):
            await conn.execute(
                "INSERT INTO campaigns (id, name, agent_id, provider, state, max_call_seconds,"
                " retry_policy, priority, created_at, updated_at, started_at)"
                " VALUES ($1, $2, 'agent', 'mcube', $3, 600, '{}', 1, $4, $4, $4)",
                campaign_id, f"bench {index}", "completed" if index == 0 else "running", now,
            )  # fmt: skip
        await conn.copy_records_to_table(
            "contacts", records=_contacts(campaigns, size, now), columns=CONTACT_COLUMNS
        )
        called = await conn.fetch(
            "SELECT id, campaign_id, phone_e164, state FROM contacts WHERE state <> 'pending'"
        )
        await conn.copy_records_to_table(
            "call_attempts", records=_attempts(called, now), columns=ATTEMPT_COLUMNS
        )
        await conn.copy_records_to_table(
            "webhook_events", records=_webhooks(called, now), columns=WEBHOOK_COLUMNS
        )
        await conn.execute("VACUUM ANALYZE")
    finally:
        await conn.close()


def _contacts(campaigns: list[str], size: int, now: Any) -> list[tuple[Any, ...]]:
    rows = []
    later = now + timedelta(hours=6)
    for i in range(size):
        if i < 200:
            state, outcome, error = ("queued" if i % 2 else "calling"), None, None
        elif i % 2:
            state, outcome, error = ("completed" if i % 5 else "exhausted"), "completed", None
        elif i % 3 == 0:
            state, outcome, error = "retrying", "no_answer", "no answer"
        else:
            state, outcome, error = "pending", None, None
        rows.append(
            (
                campaigns[i % len(campaigns)], f"+9170{i:08d}", "IN", '["Asia/Kolkata"]',
                '{"name": "x"}', state, 0 if state == "pending" else 1,
                None if state in ("completed", "exhausted") else later, outcome, error, i + 2,
                now, now,
            )
        )  # fmt: skip
    return rows


def _attempts(called: list[Any], now: Any) -> list[tuple[Any, ...]]:
    rows = []
    for contact_id, campaign_id, phone, state in called:
        ended = state not in ("queued", "calling", "retrying")
        if state == "queued":
            continue
        rows.append(
            (
                contact_id, campaign_id, 1, "ended" if ended or state == "retrying" else "started",
                "mcube", phone, f"call-{contact_id}", f"session-{contact_id}",
                ("completed" if state == "completed" else "no_answer")
                if ended or state == "retrying" else None,
                now + timedelta(minutes=10), now - timedelta(hours=1), now - timedelta(hours=1),
                now - timedelta(minutes=50) if ended or state == "retrying" else None, now,
            )
        )  # fmt: skip
    return rows


def _webhooks(called: list[Any], now: Any) -> list[tuple[Any, ...]]:
    long_ago = now - timedelta(hours=2)
    return [
        (f"session-{contact_id}", f"call-{contact_id}", "session.completed", "applied", b"{}",
         "{}", 0, long_ago, long_ago + timedelta(seconds=1))
        for contact_id, _, _, state in called
        if state not in ("queued", "calling")
    ]  # fmt: skip
