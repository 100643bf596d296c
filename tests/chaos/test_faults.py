import pytest

from chaos.faults import KILL_SIGNALS, Plan, counts, schedule

PLAN = Plan(
    duration=60.0,
    processes=["worker-0", "worker-1", "scheduler-0"],
    kill_every=5.0,
    network_every=6.0,
    link_hosts=["w0", "w1"],
    link_down_seconds=20.0,
    host_processes={"w0": ["worker-0"], "w1": ["worker-1"]},
)


def test_the_same_seed_gives_the_same_schedule() -> None:
    assert schedule(PLAN, 3) == schedule(PLAN, 3)
    assert schedule(PLAN, 3) != schedule(PLAN, 4)


def test_faults_are_sorted_and_inside_the_phase() -> None:
    faults = schedule(PLAN, 1)
    times = [fault.at for fault in faults]
    assert times == sorted(times)
    assert all(0 <= fault.at < PLAN.duration for fault in faults)


def test_redis_postgres_and_one_link_fail_exactly_once_each() -> None:
    tally = counts(schedule(PLAN, 5))
    assert tally["redis_flush_restart"] == 1
    assert tally["postgres_restart"] == 1
    assert tally["link_down"] == 1


def test_redis_and_postgres_restarts_fall_in_separate_parts_of_the_phase() -> None:
    for seed in range(30):
        faults = {fault.kind: fault for fault in schedule(PLAN, seed)}
        assert faults["redis_flush_restart"].at < faults["postgres_restart"].at


def test_a_cut_link_comes_back_before_the_phase_ends() -> None:
    for seed in range(30):
        link = next(f for f in schedule(PLAN, seed) if f.kind == "link_down")
        assert link.target in PLAN.link_hosts
        assert link.at + link.seconds <= PLAN.duration


def test_kills_name_a_planned_process_and_a_signal_with_a_pause() -> None:
    kills = [f for f in schedule(PLAN, 2) if f.kind in KILL_SIGNALS]
    assert kills
    for kill in kills:
        assert kill.target in PLAN.processes
        assert PLAN.restart_pause[0] <= kill.seconds <= PLAN.restart_pause[1]


def test_network_faults_end_within_the_phase() -> None:
    network = [f for f in schedule(PLAN, 9) if f.kind in ("delay", "cut")]
    assert network
    for fault in network:
        assert fault.target in ("api", "webhooks")
        assert fault.at + fault.seconds <= PLAN.duration + 1e-9
        assert (fault.amount > 0) == (fault.kind == "delay")


def test_without_hosts_no_link_is_cut() -> None:
    plan = Plan(duration=30.0, processes=["worker-0"], kill_every=5.0, network_every=5.0)
    assert "link_down" not in counts(schedule(plan, 1))


def test_an_empty_plan_is_refused_with_the_reason() -> None:
    with pytest.raises(ValueError, match="at least one engine process"):
        schedule(Plan(duration=10.0, processes=[], kill_every=1.0, network_every=1.0), 1)
    with pytest.raises(ValueError, match="must last > 0 s"):
        schedule(Plan(duration=0.0, processes=["w"], kill_every=1.0, network_every=1.0), 1)


def test_even_a_short_phase_sends_both_signals() -> None:
    short = Plan(duration=2.0, processes=["worker-0"], kill_every=100.0, network_every=100.0)
    cut = Plan(
        duration=15.0,
        processes=["worker-0", "worker-1"],
        kill_every=100.0,
        network_every=100.0,
        link_hosts=["w0"],
        link_down_seconds=10.0,
        host_processes={"w0": ["worker-0"]},
    )
    for seed in range(10):
        for plan in (short, cut):
            tally = counts(schedule(plan, seed))
            assert tally["SIGKILL"] >= 1
            assert tally["SIGTERM"] >= 1


def test_the_processes_of_a_cut_off_host_are_not_killed_while_it_is_cut_off() -> None:
    busy = Plan(
        duration=60.0,
        processes=["worker-0", "worker-1"],
        kill_every=0.5,
        network_every=10.0,
        link_hosts=["w0"],
        link_down_seconds=20.0,
        host_processes={"w0": ["worker-0"]},
    )
    for seed in range(10):
        faults = schedule(busy, seed)
        link = next(f for f in faults if f.kind == "link_down")
        window = (link.at - busy.restart_pause[1], link.at + link.seconds)
        spared = [f for f in faults if f.kind in KILL_SIGNALS and window[0] <= f.at <= window[1]]
        assert spared, "the plan kills often enough to hit the window"
        assert all(f.target == "worker-1" for f in spared)
