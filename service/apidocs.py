"""The API reference page, rendered on the server from the OpenAPI schema: no script and no CDN assets,
so it works on a network without internet access and under the service's strict CSP."""

from __future__ import annotations

from html import escape
from typing import Any


def api_reference(spec: dict[str, Any]) -> str:
    info = spec.get("info", {})
    parts = [
        "<!doctype html><html lang=en><meta charset=utf-8>",
        f"<title>{escape(info.get('title', 'API'))} — API</title>",
        f"<h1>{escape(info.get('title', 'API'))}</h1>",
        f"<p>{escape(info.get('description', ''))}</p>",
        "<p>Machine-readable schema: <a href='/openapi.json'>/openapi.json</a>.</p>",
    ]
    for path, ops in sorted(spec.get("paths", {}).items()):
        for method, op in ops.items():
            parts.append(f"<h2><code>{escape(method.upper())} {escape(path)}</code></h2>")
            if op.get("summary"):
                parts.append(f"<p>{escape(op['summary'])}</p>")
            params = op.get("parameters", [])
            if params:
                items = "".join(
                    f"<li><code>{escape(p['name'])}</code> ({escape(p.get('in', ''))})</li>" for p in params
                )
                parts.append(f"<p>Parameters:</p><ul>{items}</ul>")
            if "requestBody" in op:
                parts.append("<p>Body: <code>multipart/form-data</code> (see the schema).</p>")
            answers = "".join(
                f"<li><code>{escape(code)}</code> {escape(r.get('description', ''))}</li>"
                for code, r in sorted(op.get("responses", {}).items())
            )
            parts.append(f"<p>Answers:</p><ul>{answers}</ul>")
    return "".join(parts)
