"""deploy/grafana-dashboard.json and prometheus-alerts.yml with several servers scraped."""

from __future__ import annotations

import json
import re

import yaml

from tests.deploy.manifests import DEPLOY

# Counted by each process for itself (refused before anything is stored): these are summed.
PER_PROCESS = ("campaign_engine_webhook_signature_",)
# What takes the max over the servers: `max(`, `max by (...) (`, then maybe rate( or increase(.
_UNDER_MAX = r"max(?:\s+by\s*\([^)]*\))?\s*\((?:(?:rate|increase)\()?"


def expressions() -> list[str]:
    dashboard = json.loads((DEPLOY / "grafana-dashboard.json").read_text())
    found = [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    alerts = yaml.safe_load((DEPLOY / "prometheus-alerts.yml").read_text())
    found += [rule["expr"] for group in alerts["groups"] for rule in group["rules"]]
    return found


def unaggregated(expr: str) -> list[str]:
    """The engine-wide metrics in ``expr`` not taken with max over the servers."""
    bare = []
    for found in re.finditer(r"campaign_engine_[a-z_]+", expr):
        name = found.group()
        if name.startswith(PER_PROCESS):
            continue
        if not re.search(_UNDER_MAX + "$", expr[: found.start()]):
            bare.append(name)
    return bare


def test_engine_wide_figures_are_taken_with_max_over_the_servers_never_summed() -> None:
    exprs = expressions()

    assert exprs
    assert {expr: unaggregated(expr) for expr in exprs if unaggregated(expr)} == {}


def test_the_check_catches_a_figure_summed_over_servers() -> None:
    assert unaggregated("sum(campaign_engine_reconciler_backlog) > 20") == [
        "campaign_engine_reconciler_backlog"
    ]
    assert unaggregated("sum(increase(campaign_engine_webhook_signature_failures_total[5m]))") == []
