"""Render a kustomization the way ``kustomize build`` does, for the subset deploy/k8s uses.

CI has no kustomize binary, and none installs from the package registries it reaches, so
the manifests are rendered here: resources (files and folders), ConfigMap and Secret
generators (``create``/``replace``/``merge``), ``images``, ``replicas``, ``namespace`` and
JSON 6902 ``patches``. Anything else in a kustomization is refused by name, so a feature
added to the manifests cannot be silently skipped. Generated names carry no content hash
(kustomize appends one and rewrites every reference to it); :func:`strip_name_hashes` takes
it off kustomize's own output so the two can be compared where a kustomize binary exists.
"""

from __future__ import annotations

import base64
import copy
import re
from pathlib import Path
from typing import Any

import yaml

Doc = dict[str, Any]

SUPPORTED_KEYS = {
    "apiVersion",
    "kind",
    "resources",
    "configMapGenerator",
    "secretGenerator",
    "images",
    "replicas",
    "namespace",
    "patches",
}
# Kinds that live outside namespaces (of those a deployment could hold).
CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "PriorityClass"}
WORKLOADS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"}


class RenderError(Exception):
    """The kustomization uses something this renderer does not do, or is broken."""


def load_documents(path: Path) -> list[Doc]:
    """Every non-empty YAML document of a file."""
    with path.open() as handle:
        return [doc for doc in yaml.safe_load_all(handle) if doc]


def render(folder: Path) -> list[Doc]:
    """The documents ``kustomize build folder`` would print (less the name hashes)."""
    path = folder / "kustomization.yaml"
    spec = yaml.safe_load(path.read_text())
    unknown = set(spec) - SUPPORTED_KEYS
    if unknown:
        raise RenderError(f"{path}: not supported by tests/deploy/render.py: {sorted(unknown)}")
    docs: list[Doc] = []
    for entry in spec.get("resources", []):
        target = (folder / entry).resolve()
        docs.extend(render(target) if target.is_dir() else load_documents(target))
    for generator in spec.get("configMapGenerator", []):
        _generate(docs, folder, generator, "ConfigMap")
    for generator in spec.get("secretGenerator", []):
        _generate(docs, folder, generator, "Secret")
    for patch in spec.get("patches", []):
        _patch(docs, patch, path)
    for image in spec.get("images", []):
        _set_image(docs, image)
    for replicas in spec.get("replicas", []):
        _set_replicas(docs, replicas, path)
    if "namespace" in spec:
        for doc in docs:
            if doc["kind"] not in CLUSTER_SCOPED:
                doc["metadata"]["namespace"] = spec["namespace"]
    return docs


def _generated_data(folder: Path, generator: Doc) -> dict[str, str]:
    data: dict[str, str] = {}
    for entry in generator.get("files", []):
        key, _, name = entry.rpartition("=")
        data[key or Path(name).name] = (folder / name).read_text()
    for literal in generator.get("literals", []):
        key, _, value = literal.partition("=")
        data[key] = value
    for env_file in generator.get("envs", []):
        for line in (folder / env_file).read_text().splitlines():
            if line.strip() and not line.lstrip().startswith("#"):
                key, _, value = line.partition("=")
                data[key.strip()] = value
    return data


def _generate(docs: list[Doc], folder: Path, generator: Doc, kind: str) -> None:
    name = generator["name"]
    data = _generated_data(folder, generator)
    if kind == "Secret":
        data = {key: base64.b64encode(value.encode()).decode() for key, value in data.items()}
    options = generator.get("options", {})
    if set(options) - {"labels", "annotations"}:
        raise RenderError(f"{kind} {name}: generator options {sorted(options)} not supported")
    behavior = generator.get("behavior", "create")
    existing = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    if behavior == "create":
        if existing:
            raise RenderError(f"{kind} {name} generated twice (use behavior: replace or merge)")
        doc: Doc = {"apiVersion": "v1", "kind": kind, "metadata": {"name": name}, "data": data}
        if kind == "Secret":
            doc["type"] = "Opaque"
        docs.append(doc)
    elif not existing:
        raise RenderError(f"{kind} {name}: behavior {behavior} but no base generates it")
    elif behavior == "replace":
        doc = existing[0]
        doc["data"] = data
    elif behavior == "merge":
        doc = existing[0]
        doc["data"].update(data)
    else:
        raise RenderError(f"{kind} {name}: unknown behavior {behavior!r}")
    for field in ("labels", "annotations"):
        if options.get(field):
            doc["metadata"].setdefault(field, {}).update(options[field])


def _pointer(path: str) -> list[str]:
    return [part.replace("~1", "/").replace("~0", "~") for part in path.split("/")[1:]]


def _json_patch(doc: Doc, operations: list[Doc]) -> None:
    for operation in operations:
        *parents, last = _pointer(operation["path"])
        node: Any = doc
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        op = operation["op"]
        if isinstance(node, list):
            index = len(node) if last == "-" else int(last)
            if op == "add":
                node.insert(index, copy.deepcopy(operation["value"]))
            elif op == "replace":
                node[index] = copy.deepcopy(operation["value"])
            elif op == "remove":
                del node[index]
            else:
                raise RenderError(f"JSON patch op {op!r} is not supported")
        elif op in ("add", "replace"):
            if op == "replace" and last not in node:
                raise RenderError(f"JSON patch replaces {operation['path']}, which is absent")
            node[last] = copy.deepcopy(operation["value"])
        elif op == "remove":
            del node[last]
        else:
            raise RenderError(f"JSON patch op {op!r} is not supported")


def _patch(docs: list[Doc], patch: Doc, path: Path) -> None:
    target = patch.get("target") or {}
    operations = yaml.safe_load(patch["patch"])
    if not isinstance(operations, list):
        raise RenderError(f"{path}: only JSON 6902 patches (a list of operations) are supported")
    matched = [
        doc
        for doc in docs
        if doc["kind"] == target.get("kind", doc["kind"])
        and doc["metadata"]["name"] == target.get("name", doc["metadata"]["name"])
    ]
    if not matched:
        raise RenderError(f"{path}: patch target {target} matches no resource")
    for doc in matched:
        _json_patch(doc, operations)


def pod_spec(doc: Doc) -> Doc | None:
    """The pod template's spec of a workload, else None."""
    if doc["kind"] not in WORKLOADS:
        return None
    spec: Doc = doc["spec"]["template"]["spec"]
    return spec


def containers(doc: Doc) -> list[Doc]:
    spec = pod_spec(doc)
    if spec is None:
        return []
    return [*spec.get("initContainers", []), *spec["containers"]]


def _set_image(docs: list[Doc], image: Doc) -> None:
    for doc in docs:
        for container in containers(doc):
            # A tag follows the last ":" after the last "/" (a registry may have a port).
            path, slash, last = container["image"].rpartition("/")
            base, _, tag = last.partition(":")
            name = f"{path}{slash}{base}"
            if name != image["name"]:
                continue
            name = image.get("newName", name)
            tag = str(image.get("newTag", tag))
            container["image"] = f"{name}:{tag}" if tag else name


def _set_replicas(docs: list[Doc], replicas: Doc, path: Path) -> None:
    matched = [
        doc
        for doc in docs
        if doc["kind"] in {"Deployment", "StatefulSet", "ReplicaSet"}
        and doc["metadata"]["name"] == replicas["name"]
    ]
    if not matched:
        raise RenderError(f"{path}: replicas for {replicas['name']}, which is no workload")
    for doc in matched:
        doc["spec"]["replicas"] = replicas["count"]


_HASHED = re.compile(r"^(?P<name>.+)-[a-z0-9]{10}$")


def strip_name_hashes(docs: list[Doc]) -> list[Doc]:
    """kustomize's output with the content hashes taken off generated names (and off every
    reference to them), comparable with :func:`render`'s."""
    renames = {}
    for doc in docs:
        if doc["kind"] in {"ConfigMap", "Secret"}:
            found = _HASHED.match(doc["metadata"]["name"])
            if found:
                renames[doc["metadata"]["name"]] = found["name"]

    def strip(node: Any) -> Any:
        if isinstance(node, dict):
            return {key: strip(value) for key, value in node.items()}
        if isinstance(node, list):
            return [strip(item) for item in node]
        return renames.get(node, node) if isinstance(node, str) else node

    return [strip(doc) for doc in docs]
