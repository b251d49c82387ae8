"""`lms docs build [--out site]`: the documentation site (MkDocs, Material theme) from `docs/`, with
its reference pages generated from the same sources as `rpc.discover` — nothing is written twice:

- `reference/api.md`: every method of the OpenRPC document (rpc/core/openrpc.py `document`, built from the
  api functions' signatures and `COMMENT ON FUNCTION`): summary, description, params with their
  constraints, result (linked shapes), the errors it may give beyond the common ones, the recorded
  example; then every shared shape.
- `reference/errors.md`: `internal.error_catalogue()`, every (code, reason, meaning).
- `changelog.md`: the repository's CHANGELOG.md.

`docs/` is copied to a temporary directory, the two pages written there, and `mkdocs build --strict`
run on it (a broken link or anchor fails the build). The database is DATABASE_URL, else the
embedded cluster (started if needed, migrated).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import psycopg

from rpc.core.dispatch import load_methods
from rpc.core.errorcat import CATALOGUE_QUERY
from rpc.core.openrpc import COMMON, anchor, document, result_text, type_text

ROOT = Path(__file__).resolve().parents[2]


def MD_LINK(name: str) -> str:  # noqa: N802 — a constant-like function
    return f"[{name}](#shape-{anchor(name)})"


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def method_markdown(method: dict) -> list[str]:
    out = [f"### `{method['name']}` {{#{anchor(method['name'])}}}", "", method["description"].strip(), ""]
    if method["params"]:
        out += ["| param | type | required |", "|---|---|---|"]
        out += [f"| `{p['name']}` | {_cell(type_text(p['schema'], MD_LINK))} | {'yes' if p['required'] else 'no'} |"
                for p in method["params"]]
        out.append("")
    out += [f"**Result:** {_cell(result_text(method['result']['schema'], MD_LINK))}", ""]
    own = [e for e in method.get("errors", []) if (e["code"], e["data"]["reason"]) not in COMMON]
    if own:
        links = [f"`{e['code']}` [{e['data']['reason']}](errors.md#{anchor(e['data']['reason'])})" for e in own]
        out += ["**Errors:** " + ", ".join(links), ""]
    for example in method.get("examples", []):
        params = {p["name"]: p["value"] for p in example["params"]}
        call = {"jsonrpc": "2.0", "id": 1, "method": method["name"], "params": params}
        out += ["??? example \"Example\"", "", "    ```json",
                *("    " + line for line in json.dumps(call, indent=2).splitlines()),
                "    ```", "", "    Result:", "", "    ```json",
                *("    " + line for line in json.dumps(example["result"]["value"], indent=2).splitlines()),
                "    ```", ""]
    return out


def api_markdown(doc: dict) -> str:
    methods = [m for m in doc["methods"] if m["name"] != "rpc.discover"]
    domains: dict[str, list[dict]] = {}
    for m in methods:
        domains.setdefault(m["name"].split(".")[0], []).append(m)
    out = ["# API methods", "",
           f"{len(methods)} methods, generated from the database catalog — the same source as `rpc.discover` "
           "(the OpenRPC document) and `GET /`. Call them with `POST /rpc`, params by name; see "
           "[the client guide](../guides/clients.md).", "",
           "Every call may also answer " + ", ".join(
               f"`{code}` [{reason}](errors.md#{anchor(reason)})" for code, reason in sorted(COMMON)) + ".", "",
           "Domains: " + " · ".join(f"[{d}](#domain-{anchor(d)})" for d in sorted(domains)), ""]
    for domain in sorted(domains):
        out += [f"## {domain} {{#domain-{anchor(domain)}}}", ""]
        for m in domains[domain]:
            out += method_markdown(m)
    out += ["## Shapes", "", "Objects several methods return.", ""]
    for name, schema in sorted(doc.get("components", {}).get("schemas", {}).items()):
        out += [f"### {name} {{#shape-{anchor(name)}}}", "", "| field | type |", "|---|---|"]
        required = set(schema.get("required", []))
        for field, sub in schema.get("properties", {}).items():
            mark = "" if field in required else " (optional)"
            out.append(f"| `{field}` | {_cell(type_text(sub, MD_LINK))}{mark} |")
        out.append("")
    return "\n".join(out) + "\n"


def errors_markdown(catalogue: list[tuple[int, str, str]]) -> str:
    out = ["# Errors", "",
           "Every error is a JSON-RPC error object `{code, message, data: {reason, …}}`; `data.reason` is "
           "stable — branch on it, not on the message. JSON-RPC codes: -32700 parse error, -32600 invalid "
           "request, -32601 no such method, -32602 invalid params (`data.field` names the param), -32603 a bug "
           "(only a `log_id`), -32000 the database or a provider is unavailable (retry). Application codes "
           "are HTTP statuses (the other endpoints answer with them as the status too). Generated from "
           "`internal.error_catalogue()` (`select * from internal.error_catalogue()` lists the same).", "",
           "| code | reason | meaning |", "|---|---|---|"]
    seen: set[str] = set()
    for code, reason, meaning in catalogue:
        target = "" if reason in seen else f'<span id="{anchor(reason)}"></span>'  # links land on the first
        seen.add(reason)
        out.append(f"| `{code}` | {target}`{reason}` | {_cell(meaning)} |")
    return "\n".join(out) + "\n"


async def generated_pages(database_url: str) -> dict[str, str]:
    """reference/api.md and reference/errors.md, read from the database at database_url."""
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        methods = await load_methods(conn)
        cur = await conn.execute(CATALOGUE_QUERY)
        catalogue = [tuple(row) for row in await cur.fetchall()]
    doc = document(methods, "http://127.0.0.1:8080/rpc")
    return {"reference/api.md": api_markdown(doc), "reference/errors.md": errors_markdown(catalogue)}


def build(database_url: str, out: Path, root: Path = ROOT) -> Path:
    """Build the site into `out` (mkdocs --strict); raises CalledProcessError with mkdocs' output."""
    import asyncio

    pages = asyncio.run(generated_pages(database_url))
    with tempfile.TemporaryDirectory(prefix="lms-docs-") as tmp:
        docs = Path(tmp) / "docs"
        shutil.copytree(root / "docs", docs)
        for name, text in pages.items():
            (docs / name).write_text(text)
        shutil.copy(root / "CHANGELOG.md", docs / "changelog.md")  # one file, in the repository and the site
        config = (root / "mkdocs.yml").read_text()
        (Path(tmp) / "mkdocs.yml").write_text(config)
        out = out.resolve()
        subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet",
                        "-f", str(Path(tmp) / "mkdocs.yml"), "-d", str(out)],
                       check=True, capture_output=True, text=True, env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    return out


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("docs", help="docs build [--out site]: the documentation site (MkDocs, --strict)")
    p.add_argument("action", choices=["build"])
    p.add_argument("--out", default="site", help="where the site goes (default ./site)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace, settings) -> int:
    from rpc.db.cluster import database_url
    from rpc.db.migrate import Migrator

    url = database_url(settings)
    migrator = Migrator(url)
    try:
        migrator.migrate()
    finally:
        migrator.close()
    try:
        out = build(url, Path(args.out))
    except subprocess.CalledProcessError as exc:
        print(exc.stdout + exc.stderr, file=sys.stderr)
        return 1
    print(f"documentation site built in {out} (open {out / 'index.html'})")
    return 0
