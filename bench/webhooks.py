"""Webhook ingestion: signed deliveries per second into ``campaign-engine serve``, and latency.

The real server runs as a subprocess (``campaign-engine serve``) on a throwaway PostgreSQL
database, with one started attempt per session seeded beforehand. A load generator on
loopback (keep-alive HTTP/1.1 connections written by hand, so the generator costs little
CPU on the same machine) sends signed ``session.completed`` deliveries, 20% of them
duplicates of another delivery (some concurrent with it, some later), in random order.

Reported: accepted deliveries per second (2xx, over the whole send), p50/p99 latency from
request written to response read; how many outcomes the server applied meanwhile (it
applies them in the background of the same process) and how fast it drained the backlog
left when the burst ended; then — once the server has processed everything — the
database's word: inbox rows = distinct session_ids sent, duplicates counted, every event
applied, every attempt ended exactly once (one attempt notification each, since emission
is on), nothing left unprocessed. Target: >= 1,000/s with p99 < 100 ms.

The generator is closed-loop: ``BENCH_WEBHOOK_CONNECTIONS`` (32) connections each send the
next delivery when the last is answered, so latency includes queueing behind the others
(Little's law: 32 connections at 1,000/s is 32 ms on average). ``BENCH_WEBHOOK_DELIVERIES``
(20,000) sets the full size; the database is ``BENCH_DATABASE_URL`` (else
``TEST_DATABASE_URL``), where a database of its own is created and dropped.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, insert, select

from bench.http_load import closed_loop, percentile
from bench.serve_process import serve, wait_ready, write_config
from bench.support import free_port, redis_prefix, throwaway_postgres
from campaign_engine.db.models import CallAttempt, Campaign, Contact, Notification, WebhookEvent
from campaign_engine.db.session import create_engine
from campaign_engine.vocobase.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign

SECRET = "whsec_bench"
AGENT_ID = "00000000-0000-4000-8000-0000000000aa"
DUPLICATE_SHARE = 0.2
CONNECTIONS = int(os.environ.get("BENCH_WEBHOOK_CONNECTIONS", "32"))
TARGET_RATE = 1000.0
TARGET_P99_MS = 100.0
STATUSES = ("completed", "completed", "completed", "no_answer", "busy", "failed")
SEED = 6


def phone(index: int) -> str:
    return f"+9198{index:08d}"


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# --- the throwaway database ---------------------------------------------------------------


async def seed(url: str, sessions: int) -> None:
    """A running campaign with one contact in a call per session, ids stored."""
    engine = create_engine(url)
    now = datetime.now(UTC)
    campaign_id = str(uuid.uuid4())
    async with engine.begin() as conn:
        await conn.execute(
            insert(Campaign).values(
                id=campaign_id,
                name="webhook bench",
                agent_id=AGENT_ID,
                provider="twilio",
                state="running",
                retry_policy={},
                max_call_seconds=600,
                created_at=now,
                updated_at=now,
                started_at=now,
            )
        )
        for start in range(0, sessions, 2000):
            chunk = range(start, min(start + 2000, sessions))
            await conn.execute(
                insert(Contact),
                [
                    {
                        "id": i + 1,
                        "campaign_id": campaign_id,
                        "phone_e164": phone(i),
                        "region": "IN",
                        "timezones": ["Asia/Calcutta"],
                        "variables": {"name": f"P{i}"},
                        "state": "calling",
                        "attempts_count": 1,
                        "created_at": now,
                        "updated_at": now,
                    }
                    for i in chunk
                ],
            )
            await conn.execute(
                insert(CallAttempt),
                [
                    {
                        "id": i + 1,
                        "contact_id": i + 1,
                        "campaign_id": campaign_id,
                        "attempt_number": 1,
                        "state": "started",
                        "provider": "twilio",
                        "to_number": phone(i),
                        "call_id": f"call-{i}",
                        "session_id": f"sess-{i}",
                        "deadline_at": now + timedelta(hours=1),
                        "claimed_at": now,
                        "started_at": now,
                        "updated_at": now,
                    }
                    for i in chunk
                ],
            )
    await engine.dispose()


# --- the deliveries -----------------------------------------------------------------------


def event_body(index: int, rng: random.Random) -> bytes:
    status = rng.choice(STATUSES)
    data = {
        "event": "session.completed",
        "timestamp": iso(datetime.now(UTC)),
        "data": {
            "session_id": f"sess-{index}",
            "agent_id": AGENT_ID,
            "agent_name": "Bench agent",
            "duration_seconds": 30 + index % 90,
            "credits_used": 1.5,
            "processing_complete": True,
            "pipeline_completed_at": iso(datetime.now(UTC)),
            "transcript": [
                {"role": "assistant", "content": "Hello, is this P?", "timestamp": None},
                {"role": "user", "content": "Yes, speaking.", "timestamp": None},
            ],
            "recording_url": f"https://recordings.example/sess-{index}.mp3",
            "variables": {"name": f"P{index}"},
            "extraction": {"status": "success", "values": {"interested": index % 2 == 0}},
            "call": {
                "call_id": f"call-{index}",
                "from_number": "+14155550100",
                "to_number": phone(index),
                "direction": "outbound",
                "status": status,
                "disposition": status,
                "answered_by": "human" if status == "completed" else "not_answered",
            },
        },
    }
    return json.dumps(data, separators=(",", ":")).encode()


def signed_headers(body: bytes) -> dict[str, str]:
    """Signed at send time, as Vocobase signs each attempt afresh."""
    timestamp = iso(datetime.now(UTC))
    return {
        "Content-Type": "application/json",
        TIMESTAMP_HEADER: timestamp,
        SIGNATURE_HEADER: sign(SECRET, timestamp, body),
    }


def delivery_order(sessions: int, duplicates: int, rng: random.Random) -> list[int]:
    """Every session once, plus ``duplicates`` repeats placed after their original (some
    right behind it, so the two are in flight at once)."""
    order = list(range(sessions))
    rng.shuffle(order)
    for _ in range(duplicates):
        position = rng.randrange(len(order))
        repeat = order[position]
        gap = 1 if rng.random() < 0.3 else rng.randrange(1, len(order) - position + 1)
        order.insert(min(position + gap, len(order)), repeat)
    return order


# --- the database's word ------------------------------------------------------------------


async def settled(
    url: str, sessions: int, limit_seconds: float
) -> tuple[dict[str, Any], int, float]:
    """Wait until nothing is left to process; then count what the server did. Also the
    backlog when the burst ended (events not applied yet) and how long it took to drain."""
    engine = create_engine(url)
    began = time.perf_counter()
    backlog: int | None = None
    try:
        while True:
            async with engine.connect() as conn:
                left = int(
                    await conn.scalar(
                        select(func.count())
                        .select_from(WebhookEvent)
                        .where(WebhookEvent.status.in_(["received", "unmatched"]))
                    )
                    or 0
                )
            backlog = left if backlog is None else backlog
            if not left or time.perf_counter() - began > limit_seconds:
                break
            await asyncio.sleep(0.1)
        waited = time.perf_counter() - began
        async with engine.connect() as conn:
            by_status = dict(
                (
                    await conn.execute(
                        select(WebhookEvent.status, func.count()).group_by(WebhookEvent.status)
                    )
                ).all()
            )
            inbox_rows = await conn.scalar(select(func.count()).select_from(WebhookEvent))
            distinct = await conn.scalar(select(func.count(func.distinct(WebhookEvent.session_id))))
            duplicates = await conn.scalar(select(func.sum(WebhookEvent.duplicates)))
            ended = await conn.scalar(
                select(func.count()).select_from(CallAttempt).where(CallAttempt.state == "ended")
            )
            per_attempt = (
                select(Notification.attempt_id, func.count().label("n"))
                .where(Notification.kind == "attempt")
                .group_by(Notification.attempt_id)
                .subquery()
            )
            notified_once = await conn.scalar(
                select(func.count()).select_from(per_attempt).where(per_attempt.c.n == 1)
            )
            notified_more = await conn.scalar(
                select(func.count()).select_from(per_attempt).where(per_attempt.c.n > 1)
            )
            applied_per_attempt = await conn.scalar(
                select(func.count(func.distinct(WebhookEvent.attempt_id))).where(
                    WebhookEvent.status == "applied"
                )
            )
    finally:
        await engine.dispose()
    return (
        {
            "inbox_rows": inbox_rows,
            "distinct_session_ids": distinct,
            "duplicates_counted": int(duplicates or 0),
            "inbox_by_status": by_status,
            "attempts_ended": ended,
            "attempts_applied_by_an_event": applied_per_attempt,
            "attempts_notified_once": notified_once,
            "attempts_notified_more_than_once": notified_more,
            "sessions": sessions,
        },
        backlog or 0,
        waited,
    )


async def run(smoke: bool) -> dict[str, Any]:
    deliveries = 400 if smoke else int(os.environ.get("BENCH_WEBHOOK_DELIVERIES", "20000"))
    duplicates = int(deliveries * DUPLICATE_SHARE)
    sessions = deliveries - duplicates
    rng = random.Random(SEED)
    async with throwaway_postgres() as url, redis_prefix() as prefix:
        await seed(url, sessions)
        bodies = [event_body(i, rng) for i in range(sessions)]
        order = delivery_order(sessions, duplicates, rng)
        port = free_port()
        with tempfile.TemporaryDirectory(prefix="ce-bench-") as workdir:
            config, log = Path(workdir) / "engine.toml", Path(workdir) / "serve.log"
            write_config(config, url, port, prefix, SECRET)
            with serve(config, log) as proc:
                await wait_ready(port, proc, log)
                elapsed, latencies, codes = await closed_loop(
                    port,
                    "/webhooks/vocobase",
                    ((bodies[index], signed_headers) for index in order),
                    CONNECTIONS,
                )
                counts, backlog, drain = await settled(url, sessions, limit_seconds=900)
    accepted = sum(n for code, n in codes.items() if 200 <= code < 300)
    rate = accepted / elapsed
    p50, p99 = percentile(latencies, 0.50) * 1000, percentile(latencies, 0.99) * 1000
    exact = (
        accepted == len(order)
        and counts["inbox_rows"] == sessions
        and counts["distinct_session_ids"] == sessions
        and counts["duplicates_counted"] == duplicates
        and counts["inbox_by_status"] == {"applied": sessions}
        and counts["attempts_ended"] == sessions
        and counts["attempts_applied_by_an_event"] == sessions
        and counts["attempts_notified_once"] == sessions
        and counts["attempts_notified_more_than_once"] == 0
    )
    met = rate >= TARGET_RATE and p99 < TARGET_P99_MS
    return {
        "ok": exact and (smoke or met),
        "exactly_once": exact,
        "target_met": met,
        "deliveries": len(order),
        "duplicates_sent": duplicates,
        "connections": CONNECTIONS,
        "seconds": round(elapsed, 2),
        "accepted_per_s": round(rate, 1),
        "p50_ms": round(p50, 2),
        "p99_ms": round(p99, 2),
        "max_ms": round(max(latencies) * 1000, 2),
        "status_codes": {str(code): n for code, n in sorted(codes.items())},
        # Outcome application: applied while the burst was being received, then the rest.
        "applied_during_burst": sessions - backlog,
        "applied_during_burst_per_s": round((sessions - backlog) / elapsed, 1),
        "backlog_at_burst_end": backlog,
        "drain_s": round(drain, 2),
        "applied_after_burst_per_s": round(backlog / drain, 1) if drain > 0 else None,
        **counts,
    }
