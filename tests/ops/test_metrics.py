"""``/metrics`` after a small real campaign: present, and equal to what the database says."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, select

from campaign_engine.db.models import CallAttempt
from campaign_engine.failure_kinds import FailureKind
from campaign_engine.ops.metrics import render
from campaign_engine.runtime import Runtime
from tests.harness import running_engine
from tests.ops import seed

NUMBERS = [f"+9198000{i:05d}" for i in range(6)]
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
    async with running_engine(database_url, redis_prefix) as harness:
        campaign_id = await harness.add_campaign(NUMBERS)
        await harness.run_to_completion(campaign_id)
        base = f"http://127.0.0.1:{harness.services.bound_port}"
        async with httpx.AsyncClient(base_url=base) as client:
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
