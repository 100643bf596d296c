"""``/metrics`` after a small real campaign: present, and equal to what the database says."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, select

from campaign_engine.config import with_overrides
from campaign_engine.db.models import CallAttempt
from campaign_engine.failure_kinds import FailureKind
from campaign_engine.ops.metrics import render
from campaign_engine.ops.tokens import create_token, revoke_token
from campaign_engine.runner import Services
from campaign_engine.runtime import Runtime
from campaign_engine.server import create_app
from tests.conftest import engine_settings
from tests.harness import free_port, running_engine
from tests.ops import seed

NUMBERS = [f"+9198000{i:05d}" for i in range(6)]
OPS_TOKEN = "ops-token-for-metrics"
METRICS_TOKEN = "metrics-token-for-prometheus"
DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


@pytest.mark.slow
async def test_metrics_count_calls_outcomes_queues_limits_and_refused_webhooks(
    database_url: str, redis_prefix: str
) -> None:
    async with running_engine(database_url, redis_prefix, ops={"token": OPS_TOKEN}) as harness:
        campaign_id = await harness.add_campaign(NUMBERS)
        await harness.run_to_completion(campaign_id)
        base = f"http://127.0.0.1:{harness.services.bound_port}"
        bearer = {"Authorization": f"Bearer {OPS_TOKEN}"}
        async with httpx.AsyncClient(base_url=base, headers=bearer) as client:
            before = _samples((await client.get("/metrics")).text)
            refused = await client.post("/webhooks/vocobase", content=b"{}")
            response = await client.get("/metrics")
            health = await client.get("/healthz")
        async with harness.runtime.sessions() as session:
            started = await session.scalar(
                select(func.count()).where(CallAttempt.started_at.is_not(None))
            )
            ended = await session.scalar(
                select(func.count()).where(CallAttempt.state.in_(["ended", "expired"]))
            )

    assert refused.status_code == 401 and health.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    after = _samples(response.text)
    assert started and after[("campaign_engine_calls_started_total", (("provider", "mcube"),))]
    assert after[("campaign_engine_calls_started_total", (("provider", "mcube"),))] == started
    ended_total = sum(
        value for (name, _), value in after.items() if name == "campaign_engine_calls_ended_total"
    )
    assert ended_total == ended
    assert after[("campaign_engine_imported_rows_total", ())] == len(NUMBERS)
    assert after[("campaign_engine_reconciler_backlog", ())] == 0
    assert not [k for k in after if k[0] == "campaign_engine_retry_queue_depth"]
    assert after[("campaign_engine_limit_in_use", (("limit", "vocobase:active"),))] == 0
    assert ("campaign_engine_webhook_lag_seconds", (("stat", "max"),)) in after
    failures = "campaign_engine_webhook_signature_failures_total", ()
    assert after[failures] == before[failures] + 1
    # Every accepted delivery is counted by the form of the secret that signed it.
    forms = "campaign_engine_webhook_signature_form_total"
    assert after[(forms, (("form", "as_given"),))] >= ended
    assert (forms, (("form", "without_prefix"),)) in after

    # The dashboard and the alert rules only use metrics that exist.
    # (Families without samples, e.g. no 429s in this run, are still declared by # TYPE.)
    declared = re.findall(r"# TYPE (\S+) (\S+)", response.text)
    exposed = {name for name, _ in declared}
    exposed |= {f"{name}_total" for name, kind in declared if kind == "counter"}
    for file in ("grafana-dashboard.json", "prometheus-alerts.yml"):
        used = set(re.findall(r"campaign_engine_[a-z_]+", (DEPLOY / file).read_text()))
        assert used and used <= exposed, (file, used - exposed)


async def test_only_starts_stored_as_429s_count_as_rate_limited_not_text_holding_429(
    runtime: Runtime,
) -> None:
    async with runtime.sessions() as session, session.begin():
        cid = await seed.campaign(session)
        capped = await seed.contact(
            session, cid, "+14295550100", state="pending",
            last_error="daily cap reached for +14295550100",
        )  # fmt: skip
        await seed.attempt(
            session, capped, state="not_sent", failure_kind=FailureKind.NOT_SENT.value,
            error="POST /calls/start: cannot connect to edge-429.vocobase.example",
        )  # fmt: skip
        refused = await seed.contact(
            session, cid, "+919811111111", state="pending",
            last_error="POST /calls/start: HTTP 429 RATE_LIMITED: Rate limit exceeded",
            last_failure_kind=FailureKind.RATE_LIMITED.value,
        )  # fmt: skip
        await seed.attempt(
            session, refused, state="not_sent", failure_kind=FailureKind.RATE_LIMITED.value,
            error="POST /calls/start: HTTP 429 RATE_LIMITED: Rate limit exceeded",
        )  # fmt: skip

    samples = _samples((await render(runtime)).decode())

    assert samples[("campaign_engine_rate_limited_total", (("provider", "twilio"),))] == 1
    depth = {
        dict(labels)["reason"]: value
        for (name, labels), value in samples.items()
        if name == "campaign_engine_retry_queue_depth"
    }
    assert depth == {"rate_limited": 1, "unknown": 1}


async def test_the_dial_queue_its_contacts_and_its_bound_are_exposed(runtime: Runtime) -> None:
    async with runtime.sessions() as session, session.begin():
        cid = await seed.campaign(session)
        for index in range(3):
            await seed.contact(session, cid, f"+91981111111{index}", state="queued")
    await runtime.redis.zadd(runtime.keys.queue, {"job-a": 1, "job-b": 2})

    after = _samples((await render(runtime)).decode())

    assert after[("campaign_engine_dial_queue_jobs", ())] == 2
    assert after[("campaign_engine_dial_queue_contacts", ())] == 3
    # scheduler.queue_bound_factor (4) x the partner concurrency ("auto": 5 until learned).
    assert after[("campaign_engine_dial_queue_bound", ())] == 20


async def _status(runtime: Runtime, token: str | None) -> int:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    transport = httpx.ASGITransport(app=create_app(runtime))
    async with httpx.AsyncClient(transport=transport, base_url="http://engine") as client:
        response = await client.get("/metrics", headers=headers)
    if response.status_code == 401:
        assert response.headers["www-authenticate"].startswith("Bearer")
        assert "metrics_token" in response.text
    return response.status_code


async def test_metrics_on_the_public_server_answer_only_a_token_that_may_read_them(
    runtime: Runtime,
) -> None:
    async with runtime.sessions() as session, session.begin():
        reader = await create_token(session, name="prometheus", scope="read", actor="test")
        revoked = await create_token(session, name="old", scope="admin", actor="test")
        await revoke_token(session, "old", actor="test")
    # Nothing configured: even a named token's holder is the only one who gets in.
    assert await _status(runtime, None) == 401
    assert await _status(runtime, "guess") == 401
    assert await _status(runtime, reader) == 200
    assert await _status(runtime, revoked) == 401

    settings = with_overrides(
        runtime.settings, server={"metrics_token": METRICS_TOKEN}, ops={"token": OPS_TOKEN}
    )
    guarded = Runtime(**{**vars(runtime), "settings": settings})
    assert await _status(guarded, None) == 401
    assert await _status(guarded, "Basic " + METRICS_TOKEN) == 401
    assert await _status(guarded, METRICS_TOKEN) == 200
    assert await _status(guarded, OPS_TOKEN) == 200
    assert await _status(guarded, METRICS_TOKEN[:-1]) == 401


async def test_the_metrics_listener_of_its_own_serves_only_metrics_and_the_ready_line_says_where(
    sqlite_url: str, redis_prefix: str
) -> None:
    port = free_port()
    settings = engine_settings(sqlite_url, redis_prefix, server={"metrics_port": port, "port": 0})
    runtime = await Runtime.open(settings)
    services = Services(runtime, worker=False, scheduler=False)
    try:
        await services.start()
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            scraped = await client.get("/metrics")
            other = await client.get("/healthz")
        bound = services.bound_port
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{bound}") as client:
            public = await client.get("/metrics")
        line = services.ready_line()
    finally:
        await services.stop()
        await runtime.close()

    assert scraped.status_code == 200 and "campaign_engine_contacts" in scraped.text
    assert other.status_code == 404  # nothing but /metrics there
    assert public.status_code == 401  # the public server still asks for a token
    assert f"metrics http://127.0.0.1:{port}/metrics" in line
    assert f"listening on http://127.0.0.1:{bound}" in line


async def test_the_metrics_listener_asks_for_the_metrics_token_when_one_is_set(
    sqlite_url: str, redis_prefix: str
) -> None:
    port = free_port()
    settings = engine_settings(
        sqlite_url,
        redis_prefix,
        server={"metrics_port": port, "port": 0, "metrics_token": METRICS_TOKEN},
    )
    runtime = await Runtime.open(settings)
    services = Services(runtime, worker=False, scheduler=False)
    try:
        await services.start()
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            bare = await client.get("/metrics")
            bearer = {"Authorization": f"Bearer {METRICS_TOKEN}"}
            allowed = await client.get("/metrics", headers=bearer)
    finally:
        await services.stop()
        await runtime.close()
    assert (bare.status_code, allowed.status_code) == (401, 200)


def _value(text: str, name: str, labels: tuple[tuple[str, str], ...] = ()) -> float:
    return _samples(text).get((name, labels), 0.0)


async def test_whole_table_counts_are_read_once_per_cache_period_and_live_gauges_every_scrape(
    runtime: Runtime,
) -> None:
    async with runtime.sessions() as session, session.begin():
        cid = await seed.campaign(session)
        await seed.contact(session, cid, "+919811111100", state="pending")
    first = (await render(runtime)).decode()
    async with runtime.sessions() as session, session.begin():
        await seed.contact(session, cid, "+919811111101", state="queued")
        await seed.contact(session, cid, "+919811111102", state="queued")
    cached = (await render(runtime)).decode()
    fresh_settings = with_overrides(runtime.settings, server={"metrics_cache_seconds": 0})
    fresh = (await render(Runtime(**{**vars(runtime), "settings": fresh_settings}))).decode()

    imported = "campaign_engine_imported_rows_total"
    queued = ("campaign_engine_contacts", (("state", "queued"),))
    rows, queued_before = _value(first, imported), _value(first, *queued)
    assert rows >= 1
    # Within the cache period the whole-table counts are the last reading ...
    assert (_value(cached, imported), _value(cached, *queued)) == (rows, queued_before)
    # ... while what is in flight is read on every scrape.
    assert _value(cached, "campaign_engine_dial_queue_contacts") == queued_before + 2
    # A period of 0 reads them every time.
    assert (_value(fresh, imported), _value(fresh, *queued)) == (rows + 2, queued_before + 2)
