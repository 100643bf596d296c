"""The OpenAPI 3.1 document, generated from the operations' own pydantic models (every
schema comes from ``TypeAdapter(...).json_schema``, collected under ``components``), and a
docs page that renders it with nothing from outside the machine."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import TypeAdapter
from pydantic.json_schema import models_json_schema

from campaign_engine.api.problems import MEDIA_TYPE, Problem
from campaign_engine.api.registry import Operation

REF = "#/components/schemas/{model}"
_ERRORS = {
    "401": "No token, or an unknown or revoked one",
    "403": "The token's scope does not allow this",
    "404": "Not found",
    "409": "Refused in the current state",
    "413": "The body is larger than allowed",
    "422": "A field is wrong (each is named in errors)",
}


class _Schemas:
    """Schemas of every model met, under components (pydantic's ``$defs`` lifted there)."""

    def __init__(self) -> None:
        self.components: dict[str, Any] = {}

    def of(self, annotation: Any, mode: str) -> dict[str, Any]:
        schema = TypeAdapter(annotation).json_schema(mode=mode, ref_template=REF)  # type: ignore[arg-type]
        self.components.update(schema.pop("$defs", {}))
        title = getattr(annotation, "__name__", None)
        if title and schema.get("type") == "object" and "properties" in schema:
            self.components[title] = schema
            return {"$ref": REF.format(model=title)}
        return schema


def _parameters(op: Operation, schemas: _Schemas) -> list[dict[str, Any]]:
    params: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True, "schema": schema}
        for name, schema in op.path_parameters()
    ]
    if op.query is not None:
        schema = op.query.model_json_schema(ref_template=REF)
        schemas.components.update(schema.pop("$defs", {}))
        required = set(schema.get("required", []))
        for name, prop in schema.get("properties", {}).items():
            is_array = prop.get("type") == "array"
            params.append(
                {
                    "name": name,
                    "in": "query",
                    "required": name in required,
                    "schema": prop,
                    **({"explode": True, "style": "form"} if is_array else {}),
                    **({"description": prop["description"]} if "description" in prop else {}),
                }
            )
    if op.creates:
        params.append(
            {
                "name": "Idempotency-Key",
                "in": "header",
                "required": False,
                "schema": {"type": "string", "minLength": 1, "maxLength": 255},
                "description": "Sent again with the same request: the first answer, nothing "
                "created twice.",
            }
        )
    return params


def _operation(op: Operation, schemas: _Schemas) -> dict[str, Any]:
    problem = {"content": {MEDIA_TYPE: {"schema": {"$ref": REF.format(model="Problem")}}}}
    responses: dict[str, Any] = {}
    if op.produces:
        responses[str(op.status)] = {
            "description": "OK",
            "content": {media: {"schema": {"type": "string"}} for media in op.produces},
        }
    elif op.response is None:
        responses["204"] = {"description": "Done"}
    else:
        responses[str(op.status)] = {
            "description": "OK",
            "content": {"application/json": {"schema": schemas.of(op.response, "serialization")}},
        }
    for status, description in _ERRORS.items():
        responses[status] = {"description": description, **problem}
    document: dict[str, Any] = {
        "operationId": op.operation_id,
        "summary": op.summary,
        "tags": [op.tag],
        "parameters": _parameters(op, schemas),
        "responses": responses,
        "security": [{"bearer": []}],
    }
    if op.description:
        document["description"] = op.description
    if op.body is not None:
        document["requestBody"] = {
            "required": False,
            "content": {"application/json": {"schema": schemas.of(op.body, "validation")}},
        }
    elif op.raw_body:
        document["requestBody"] = {
            "required": True,
            "content": {
                media: {"schema": {"type": "string", "format": "binary"}} for media in op.raw_body
            },
        }
    document["x-scope"] = op.scope.value
    return document


def document(operations: Sequence[Operation], *, version: str) -> dict[str, Any]:
    schemas = _Schemas()
    _, problem_defs = models_json_schema([(Problem, "serialization")], ref_template=REF)
    schemas.components.update(problem_defs.get("$defs", {}))
    paths: dict[str, dict[str, Any]] = {}
    for op in operations:
        paths.setdefault(op.document_path, {})[op.method.lower()] = _operation(op, schemas)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "campaign-engine",
            "version": version,
            "description": "Bulk outbound phone campaigns through Vocobase V2. Authenticate "
            "with a named token (`campaign-engine tokens create`): read tokens may GET, "
            "operate tokens may also act on campaigns and contacts, admin tokens may do "
            "everything. Every error is application/problem+json (RFC 9457).",
        },
        "servers": [{"url": "/api/v1"}],
        "paths": paths,
        "components": {
            "schemas": dict(sorted(schemas.components.items())),
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }


DOCS_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>campaign-engine API</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font:15px/1.5 system-ui,sans-serif;max-width:64rem;margin:2rem auto;padding:0 1rem;color:#222}
code,pre{font-family:ui-monospace,monospace;font-size:13px}
pre{background:#f5f5f5;padding:.6rem;overflow:auto;border-radius:4px}
details{border-bottom:1px solid #ddd;padding:.4rem 0}
summary{cursor:pointer}
.m{display:inline-block;width:4.2rem;font-weight:600}
.s{color:#666;font-size:13px}
</style></head><body>
<h1>campaign-engine API <small class="s">v1</small></h1>
<p>The OpenAPI 3.1 document: <a href="openapi.json">openapi.json</a>.
Every request takes <code>Authorization: Bearer &lt;token&gt;</code>.</p>
<div id="ops">Loading…</div>
<script>
const ESC = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"};
const esc = s => String(s).replace(/[&<>"]/g, c => ESC[c]);
fetch("openapi.json").then(r => r.json()).then(doc => {
  const byTag = {};
  for (const [path, item] of Object.entries(doc.paths))
    for (const [method, op] of Object.entries(item))
      (byTag[op.tags[0]] ||= []).push([method, path, op]);
  let html = "";
  for (const [tag, ops] of Object.entries(byTag)) {
    html += `<h2>${esc(tag)}</h2>`;
    for (const [method, path, op] of ops) {
      const params = (op.parameters || []).map(p => `${esc(p.name)} (${esc(p.in)})`).join(", ");
      const body = op.requestBody ? JSON.stringify(op.requestBody.content, null, 2) : "";
      const ok = Object.entries(op.responses).filter(([s]) => s < "400")
        .map(([s, r]) => `${s}: ${JSON.stringify(r.content || r.description, null, 2)}`)
        .join("\\n");
      html += `<details><summary><span class="m">${method.toUpperCase()}</span>
        <code>${esc(path)}</code> — ${esc(op.summary)}
        <span class="s">scope ${esc(op["x-scope"])}</span></summary>
        ${params ? `<p>Parameters: ${params}</p>` : ""}
        ${body ? `<p>Body:</p><pre>${esc(body)}</pre>` : ""}
        <p>Answer:</p><pre>${esc(ok)}</pre></details>`;
    }
  }
  html += `<h2>Schemas</h2><pre>${esc(JSON.stringify(doc.components.schemas, null, 2))}</pre>`;
  document.getElementById("ops").innerHTML = html;
});
</script></body></html>
"""
