import pytest

from chaos.hosts import leftover_owners, netns_command, plan_network


def test_each_host_gets_its_namespace_veth_pair_and_address_on_one_subnet() -> None:
    network = plan_network(4242, ["w0", "s0"])
    assert network.bridge == "cec4242br"
    assert network.gateway == "10.213.243.1"
    worker = network.host("w0")
    assert (worker.netns, worker.port, worker.inside) == ("cec4242-w0", "cec4242w0", "cec4242w0n")
    assert [h.address for h in network.hosts] == ["10.213.243.10", "10.213.243.11"]


def test_interface_names_fit_linux_limit_for_the_longest_process_ids() -> None:
    network = plan_network(4194304, ["abc"])
    names = [network.bridge, network.hosts[0].port, network.hosts[0].inside]
    assert all(len(name) <= 15 for name in names)


def test_bad_host_names_are_refused_with_the_rule() -> None:
    with pytest.raises(ValueError, match="1-3 lowercase"):
        plan_network(1, ["worker0"])


def test_commands_run_inside_the_hosts_namespace_or_as_given() -> None:
    host = plan_network(7, ["w1"]).host("w1")
    inside = ["ip", "netns", "exec", "cec7-w1", "python", "-V"]
    assert netns_command(host, ["python", "-V"]) == inside
    assert netns_command(None, ["python", "-V"]) == ["python", "-V"]


def test_only_namespaces_of_dead_soaks_are_leftovers() -> None:
    names = ["cec10-w0", "cec10-s0", "cec11-w0", "other", "cecx-w0"]
    assert leftover_owners(names, alive={11}) == {10}
