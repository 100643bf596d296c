"""deploy/Dockerfile: SIGTERM reaches the engine, and the image's user is the pods' user."""

from __future__ import annotations

import json
import re

from tests.deploy.manifests import BASE, DEPLOY
from tests.deploy.render import pod_spec, render

DOCKERFILE = (DEPLOY / "Dockerfile").read_text()


def instruction(name: str) -> list[str]:
    """The arguments of every ``NAME ...`` line (continuations joined)."""
    joined = DOCKERFILE.replace("\\\n", " ")
    return re.findall(rf"^{name}\s+(.+)$", joined, flags=re.MULTILINE)


def test_tini_is_pid_1_and_runs_the_engine_in_exec_form() -> None:
    [entrypoint] = instruction("ENTRYPOINT")
    command = json.loads(entrypoint)  # exec form: no shell between tini and the engine

    assert command[:3] == ["/usr/bin/tini", "--", "campaign-engine"]
    assert any("install" in run and " tini" in run for run in instruction("RUN"))
    assert not instruction("STOPSIGNAL"), "SIGTERM (the default) is what the engine handles"


def test_the_image_runs_as_the_numeric_user_the_pods_require() -> None:
    [user] = instruction("USER")
    uid, _, gid = user.strip().partition(":")

    for doc in render(BASE):
        spec = pod_spec(doc)
        if spec is not None:
            context = spec["securityContext"]
            assert (context["runAsUser"], context["runAsGroup"]) == (int(uid), int(gid))


def test_the_build_context_sends_only_what_the_image_copies() -> None:
    ignore = (DEPLOY / "Dockerfile.dockerignore").read_text().split("\n")
    kept = {line[1:].rstrip("/") for line in ignore if line.startswith("!")}
    copied = {
        source.rstrip("/")
        for line in instruction("COPY")
        for source in line.split()[:-1]
        if not source.startswith("--")
    }

    assert "*" in ignore
    assert copied == kept
