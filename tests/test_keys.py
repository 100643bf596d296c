"""Every Redis key the engine writes lives under its prefix, so engines and test runs can
share one server without touching each other's keys."""

from __future__ import annotations

from campaign_engine.keys import RedisKeys


def every_key(keys: RedisKeys) -> list[str]:
    return [
        keys.queue,
        keys.cooldown,
        keys.learned_concurrency,
        keys.lowered_concurrency,
        keys.lowered_rate,
        keys.slots_freed,
        keys.rate("vocobase"),
        keys.slots("vocobase"),
        keys.counter("limit-step"),
        keys.dial_job_id(7, 2),
    ]


def test_every_key_starts_with_the_prefix_and_no_two_coincide() -> None:
    keys = every_key(RedisKeys("engine-a"))
    assert all(key.startswith("engine-a:") for key in keys)
    assert len(set(keys)) == len(keys)


def test_two_prefixes_share_no_key() -> None:
    assert not set(every_key(RedisKeys("engine-a"))) & set(every_key(RedisKeys("engine-b")))


def test_named_rates_slots_and_counters_do_not_collide() -> None:
    keys = RedisKeys("ce")
    assert len({keys.rate("x"), keys.slots("x"), keys.counter("x"), keys.rate("y")}) == 4


def test_a_dial_job_id_names_its_first_contacts_attempt_so_withdrawing_finds_it() -> None:
    keys = RedisKeys("ce")
    assert keys.dial_job_id(7, 2) == "ce:dial:7:2"
    assert keys.dial_job_id(7, 2) != keys.dial_job_id(7, 3)
    assert not keys.dial_job_id(71, 2).startswith(keys.dial_job_id(7, 2) + ":")
