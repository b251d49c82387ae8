"""The Python layer's shape: no import cycles in rpc/ (imports inside functions count too)."""

from __future__ import annotations

import ast
from pathlib import Path

RPC = Path(__file__).resolve().parent.parent / "rpc"


def rpc_imports(path: Path) -> set[str]:
    """Modules of the rpc package that `path` imports, anywhere in the file."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            if node.module == "rpc":
                found |= {f"rpc.{a.name}" for a in node.names if (RPC / f"{a.name}.py").exists()}
            elif node.module.startswith("rpc."):
                found.add(node.module)
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("rpc.")}
    return found


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


def test_rpc_has_no_import_cycles():
    graph = {f"rpc.{p.stem}": rpc_imports(p) - {f"rpc.{p.stem}"} for p in RPC.glob("*.py") if p.stem != "__init__"}
    assert graph["rpc.views"], "the check sees imports"
    cycle = find_cycle(graph)
    assert cycle is None, " → ".join(cycle or [])


def test_the_cycle_finder_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None
