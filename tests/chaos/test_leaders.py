from chaos.leaders import leader_summary


def test_the_longest_span_without_a_leader_and_the_hand_overs_are_counted() -> None:
    samples = [
        (0.0, "a"),
        (1.0, "a"),
        (2.0, None),
        (3.0, None),
        (5.5, "b"),
        (6.0, None),
        (7.0, "b"),
    ]
    assert leader_summary(samples) == {
        "lead_changes": 1,
        "distinct_leaders": 2,
        "longest_leaderless_seconds": 3.5,
        "longest_leaderless_from": 2.0,
    }


def test_a_span_without_a_leader_at_the_end_counts_to_the_last_sample() -> None:
    summary = leader_summary([(0.0, "a"), (1.0, None), (9.0, None)])
    assert summary["longest_leaderless_seconds"] == 8.0
    assert summary["lead_changes"] == 0


def test_no_samples_no_leader_figures() -> None:
    assert leader_summary([])["longest_leaderless_seconds"] == 0.0
