from chaos.stack import host_names, placements


def test_three_workers_the_schedulers_and_two_servers_are_placed() -> None:
    roles = [p.role for p in placements(2, separate_hosts=False)]
    assert roles == ["worker"] * 3 + ["scheduler"] * 2 + ["serve"] * 2


def test_on_separate_hosts_each_worker_one_scheduler_and_one_server_get_their_own() -> None:
    placed = placements(2, separate_hosts=True)
    assert host_names(placed) == ["w0", "w1", "w2", "s0", "v0"]
    assert {p.name for p in placed if p.host is None} == {"scheduler-1", "server-1"}


def test_on_one_host_nothing_is_placed_in_a_namespace() -> None:
    assert host_names(placements(1, separate_hosts=False)) == []
