"""Which errors each method can give: read off the SQL function bodies (pg_proc.prosrc).

A function raises `errcode = 'LMnnn', detail = '<reason>'` or returns
`internal.error(nnn, '<reason>', …)`. A method can give what its own function raises, what every
function it calls can raise (transitively), and what the triggers of the tables it writes raise.
The reasons themselves, with their meaning, come from the one catalogue in the database
(`internal.error_catalogue()`); tests/test_errors.py checks that every raise site is in it.
"""

from __future__ import annotations

import re

RAISED = re.compile(r"errcode\s*=\s*'LM(\d{3})'\s*,\s*detail\s*=\s*'([a-z0-9_]+)'")
RETURNED = re.compile(r"internal\.error\(\s*(\d{3})\s*,\s*'([a-z0-9_]+)'")
CALLED = re.compile(r"\b((?:internal|app|api)\.[a-z0-9_]+)\s*\(")
WRITTEN = re.compile(r"\b(?:insert\s+into|update|delete\s+from)\s+(app\.[a-z0-9_]+)", re.I)

BODIES_QUERY = """
select n.nspname || '.' || p.proname, p.prosrc
from pg_proc p join pg_namespace n on n.oid = p.pronamespace
where n.nspname in ('api', 'internal', 'app')
"""
TRIGGERS_QUERY = """
select 'app.' || c.relname, fn.nspname || '.' || p.proname
from pg_trigger t
join pg_class c on c.oid = t.tgrelid join pg_namespace cn on cn.oid = c.relnamespace
join pg_proc p on p.oid = t.tgfoid join pg_namespace fn on fn.oid = p.pronamespace
where cn.nspname = 'app' and not t.tgisinternal
"""
CATALOGUE_QUERY = "select code, reason, meaning from internal.error_catalogue() order by code, reason"


def raised(body: str) -> set[tuple[int, str]]:
    return {(int(c), r) for c, r in RAISED.findall(body)} | {(int(c), r) for c, r in RETURNED.findall(body)}


def method_errors(bodies: dict[str, str], triggers: dict[str, set[str]]) -> dict[str, set[tuple[int, str]]]:
    """{function name: every (code, reason) it can give}, through the functions it calls and the
    triggers of the tables it writes."""
    edges: dict[str, set[str]] = {}
    for name, body in bodies.items():
        calls = {c for c in CALLED.findall(body) if c in bodies and c != name}
        for table in WRITTEN.findall(body):
            calls |= triggers.get(table.lower(), set())
        edges[name] = calls
    memo: dict[str, set[tuple[int, str]]] = {}

    def collect(name: str, seen: frozenset[str]) -> set[tuple[int, str]]:
        if name in memo:
            return memo[name]
        found = raised(bodies.get(name, ""))
        for callee in edges.get(name, ()):
            if callee not in seen:
                found |= collect(callee, seen | {callee})
        if not seen - {name}:  # only cache complete (top-level) walks
            memo[name] = found
        return found

    return {name: collect(name, frozenset({name})) for name in bodies if name.startswith("api.")}
