"""The Python layer's shape: rpc/ by purpose — core < db < workers < http < cli, each importing only
from its own layer and those below it — and no import cycles (imports inside functions count too)."""

from __future__ import annotations

import ast
from pathlib import Path

RPC = Path(__file__).resolve().parent.parent / "rpc"


LAYERS = ["core", "db", "workers", "http", "cli"]


def module_name(path: Path) -> str:
    parts = path.relative_to(RPC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in RPC.rglob("*.py")}


def rpc_imports(path: Path) -> set[str]:
    """Modules of the rpc package that `path` imports, anywhere in the file (`from rpc.x import y`
    counts as rpc.x.y when that is a module, else as rpc.x)."""
    known = modules()
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "rpc":
            for a in node.names:
                found.add(f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in known else node.module)
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "rpc"}
    return found - {"rpc"}


def layer(module: str) -> int | None:
    parts = module.split(".")
    return LAYERS.index(parts[1]) if len(parts) > 1 and parts[1] in LAYERS else None


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_rpc_is_layered_by_purpose():
    """Nothing in rpc/ is outside a layer but the package's own __init__/__main__, and no module imports a
    layer above its own (core knows nothing of the database, workers nothing of the HTTP server…)."""
    loose = sorted(m for m in modules() if layer(m) is None and m not in ("rpc", "rpc.__main__"))
    assert not loose, f"modules outside rpc/{{{','.join(LAYERS)}}}: {loose}"
    upward = [(m, i) for m, p in modules().items() if layer(m) is not None
              for i in sorted(rpc_imports(p)) if layer(i) is not None and layer(i) > layer(m)]
    assert rpc_imports(RPC / "http" / "app.py"), "the check sees imports"
    assert not upward, "imports from a higher layer: " + ", ".join(f"{m} → {i}" for m, i in upward)


def test_rpc_has_no_import_cycles():
    graph = {m: rpc_imports(p) - {m} for m, p in modules().items() if not p.name == "__init__.py"}
    assert graph["rpc.http.views"], "the check sees imports"
    cycle = find_cycle(graph)
    assert cycle is None, " → ".join(cycle or [])


def test_the_cycle_finder_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None
