"""The short chaos soak, end to end: private PostgreSQL and Redis, the simulator, the
engine's processes killed and cut off at random; nothing dialed twice, lost or stuck."""

from __future__ import annotations

import os
import shutil

import pytest

from chaos import soak
from chaos.options import options
from chaos.postgres import binaries_dir

pytestmark = pytest.mark.slow


def _missing() -> str | None:
    if shutil.which("redis-server") is None:
        return "redis-server is not installed"
    try:
        binaries_dir()
    except RuntimeError as error:
        return str(error)
    return None


@pytest.mark.skipif(_missing() is not None, reason=str(_missing()))
async def test_the_short_soak_dials_nobody_twice_and_loses_no_contact() -> None:
    hosts = os.geteuid() == 0
    result = await soak.run(options(short=True, hosts=hosts, seed=7))
    faulty = result["faults"]
    assert result["failed"] == []
    assert faulty["completed"] and result["baseline"]["completed"]
    assert faulty["double_dials"] == [] and faulty["calls_unknown_to_engine"] == []
    assert faulty["contacts"] == {"lost": [], "stuck": []}
    assert faulty["peak_concurrency"] <= faulty["concurrency_limit"]
    assert {"SIGKILL", "redis_flush_restart", "postgres_restart"} <= set(result["fault_counts"])
    if hosts:
        assert [window["rejoined"] for window in faulty["link_down"]] == [True]
    assert result["duration_ratio"] is not None
