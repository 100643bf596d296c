"""Every limit a call start must pass: configured value, use now, 429s, adaptive state."""

from __future__ import annotations

from datetime import datetime, timedelta

from campaign_engine.config import LimitSettings
from campaign_engine.control.leadership import Leadership
from campaign_engine.db.models import CallAttempt, Campaign, Contact, utcnow
from campaign_engine.limits.plan import VOCOBASE_ACTIVE, VOCOBASE_CALLS, campaign_key, provider_key
from campaign_engine.ops.limits_view import LeadingScheduler, LimitsView, LimitUse, limits_view
from campaign_engine.runtime import Runtime
from tests.ops import seed


async def _view(
    runtime: Runtime, limits: LimitSettings | None = None, now: datetime | None = None
) -> LimitsView:
    async with runtime.sessions() as session:
        return await limits_view(
            session, runtime.redis, runtime.keys, limits or LimitSettings(), now=now
        )


def _by_key(view: LimitsView) -> dict[tuple[str, str], LimitUse]:
    rows = {(row.name, row.kind): row for row in view.limits}
    assert len(rows) == len(view.limits), "a limit is listed twice"
    return rows


async def _hold(runtime: Runtime, name: str, *leases: str, expired: bool = False) -> None:
    now_s, _ = await runtime.redis.time()
    score = (now_s - 60 if expired else now_s + 600) * 1000
    await runtime.redis.zadd(runtime.keys.slots(name), dict.fromkeys(leases, score))


def _attempt(
    contact: Contact, number: int, provider: str, claimed: datetime, **fields: object
) -> CallAttempt:
    return CallAttempt(
        contact_id=contact.id,
        campaign_id=contact.campaign_id,
        attempt_number=number,
        provider=provider,
        to_number=contact.phone_e164,
        claimed_at=claimed,
        deadline_at=claimed + timedelta(minutes=10),
        **fields,
    )


async def test_with_nothing_going_on_the_defaults_are_shown_unused(runtime: Runtime) -> None:
    view = await _view(runtime)
    rows = _by_key(view)

    calls = rows[(VOCOBASE_CALLS, "rate")]
    assert (calls.limit, calls.in_use, calls.rate_limited_last_hour) == (10, 0, 0)
    active = rows[(VOCOBASE_ACTIVE, "concurrency")]
    assert (active.limit, active.in_use) == (5, 0)  # "auto" with nothing learned
    assert [row.name for row in view.limits[2:]] == [
        provider_key(name) for name in sorted(LimitSettings().providers)
    ]
    assert rows[(provider_key("twilio"), "rate")].limit == 60
    assert rows[(provider_key("exotel"), "rate")].limit == 200
    assert rows[(provider_key("plivo"), "rate")].limit == 120
    assert all(row.kind == "rate" for row in view.limits[2:])
    assert (view.cooldown_ms, view.learned_concurrency, view.lowered_concurrency) == (0, None, None)
    assert view.lowered_rate_factor is None


async def test_a_learned_concurrency_replaces_auto_and_a_lowered_one_caps_it(
    runtime: Runtime,
) -> None:
    await runtime.redis.set(runtime.keys.learned_concurrency, "8")
    learned = await _view(runtime)
    await runtime.redis.set(runtime.keys.lowered_concurrency, "3", px=60_000)
    lowered = await _view(runtime)

    assert _by_key(learned)[(VOCOBASE_ACTIVE, "concurrency")].limit == 8
    assert learned.learned_concurrency == 8
    assert _by_key(lowered)[(VOCOBASE_ACTIVE, "concurrency")].limit == 3
    assert (lowered.learned_concurrency, lowered.lowered_concurrency) == (8, 3)


async def test_a_configured_concurrency_is_a_cap_a_larger_learned_value_cannot_lift(
    runtime: Runtime,
) -> None:
    await runtime.redis.set(runtime.keys.learned_concurrency, "8")
    limits = LimitSettings(vocobase={"concurrency": 4})
    assert _by_key(await _view(runtime, limits))[(VOCOBASE_ACTIVE, "concurrency")].limit == 4


async def test_a_lowered_rate_factor_scales_the_vocobase_call_rate(runtime: Runtime) -> None:
    await runtime.redis.set(runtime.keys.lowered_rate, "0.5", px=60_000)
    limits = LimitSettings(vocobase={"calls_per_minute": 30})
    view = await _view(runtime, limits)
    assert _by_key(view)[(VOCOBASE_CALLS, "rate")].limit == 15
    assert view.lowered_rate_factor == 0.5


async def test_the_cooldown_shows_its_milliseconds_left(runtime: Runtime) -> None:
    await runtime.redis.set(runtime.keys.cooldown, "1", px=30_000)
    assert 25_000 < (await _view(runtime)).cooldown_ms <= 30_000


async def test_concurrency_in_use_counts_live_leases_not_expired_ones(runtime: Runtime) -> None:
    await _hold(runtime, VOCOBASE_ACTIVE, "1:1", "2:1")
    await _hold(runtime, VOCOBASE_ACTIVE, "3:1", expired=True)
    await _hold(runtime, provider_key("plivo"), "1:1")
    limits = LimitSettings(providers={"plivo": {"max_concurrent": 4}})
    rows = _by_key(await _view(runtime, limits))

    assert rows[(VOCOBASE_ACTIVE, "concurrency")].in_use == 2
    plivo = rows[(provider_key("plivo"), "concurrency")]
    assert (plivo.limit, plivo.in_use) == (4, 1)
    assert (provider_key("twilio"), "concurrency") not in rows


async def test_requests_in_the_last_minute_and_429s_in_the_last_hour_by_provider(
    runtime: Runtime,
) -> None:
    now = utcnow()
    async with runtime.sessions() as session, session.begin():
        cid = await seed.campaign(session, start=False)
        contact = await seed.contact(session, cid, "+919700000001", state="retrying")
        session.add_all(
            [
                _attempt(contact, 1, "twilio", now - timedelta(seconds=10), state="ended"),
                _attempt(contact, 2, "twilio", now - timedelta(seconds=30), state="started"),
                _attempt(contact, 3, "mcube", now - timedelta(seconds=40), state="ended"),
                _attempt(contact, 4, "mcube", now - timedelta(minutes=2), state="ended"),
                # 429s: one this minute, one this hour, one too old to count.
                _attempt(
                    contact, 5, "mcube", now - timedelta(seconds=5), state="not_sent",
                    failure_kind="rate_limited",
                ),
                _attempt(
                    contact, 5, "twilio", now - timedelta(minutes=30), state="not_sent",
                    failure_kind="concurrency_limited",
                ),
                _attempt(
                    contact, 5, "twilio", now - timedelta(minutes=90), state="not_sent",
                    failure_kind="rate_limited",
                ),
                # Not sent for another reason: not a 429.
                _attempt(
                    contact, 5, "mcube", now - timedelta(minutes=5), state="not_sent",
                    failure_kind="not_sent", error="connect error to host-429",
                ),
            ]
        )  # fmt: skip

    rows = _by_key(await _view(runtime, now=now))

    calls = rows[(VOCOBASE_CALLS, "rate")]
    assert (calls.in_use, calls.rate_limited_last_hour) == (4, 2)
    twilio = rows[(provider_key("twilio"), "rate")]
    assert (twilio.in_use, twilio.rate_limited_last_hour) == (2, 1)
    mcube = rows[(provider_key("mcube"), "rate")]
    assert (mcube.in_use, mcube.rate_limited_last_hour) == (2, 1)
    assert rows[(provider_key("plivo"), "rate")].in_use == 0


async def test_running_campaigns_with_a_concurrency_cap_are_listed_with_their_leases(
    runtime: Runtime,
) -> None:
    async with runtime.sessions() as session, session.begin():
        running = await seed.campaign(session, name="running")  # max_concurrent=3
        paused = await seed.campaign(session, name="paused")
        uncapped = await seed.campaign(session, name="uncapped")
        draft = await seed.campaign(session, name="draft", start=False)
        for cid, state, cap in ((paused, "paused", 3), (uncapped, "running", None)):
            row = await session.get(Campaign, cid)
            assert row is not None
            row.state, row.max_concurrent = state, cap
    await _hold(runtime, campaign_key(running), "7:1", "8:2")

    rows = _by_key(await _view(runtime))

    mine = rows[(campaign_key(running), "concurrency")]
    assert (mine.limit, mine.in_use) == (3, 2)
    for cid in (paused, uncapped, draft):
        assert (campaign_key(cid), "concurrency") not in rows


async def test_the_leading_scheduler_is_shown_with_since_when_and_its_token(
    runtime: Runtime,
) -> None:
    assert (await _view(runtime)).scheduler_leader == LeadingScheduler(
        leading=False, holder=None, since=None, token=None, renewed_at=None, lease_ms_left=None
    )
    first, second = (
        Leadership(runtime.redis, runtime.keys, runtime.sessions, lease_seconds=30, holder=name)
        for name in ("host-a:11", "host-b:22")
    )
    assert await first.acquire()
    await first.release()
    assert await second.acquire()

    shown = (await _view(runtime)).scheduler_leader

    assert shown is not None
    assert (shown.leading, shown.holder, shown.token) == (True, "host-b:22", 2)
    assert shown.since is not None and shown.lease_ms_left is not None
    assert shown.describe().startswith("host-b:22 since ")
    await second.release()
    gone = (await _view(runtime)).scheduler_leader
    assert gone is not None and not gone.leading
    assert gone.describe() == "no scheduler leads (the last was host-b:22, token 2)"
