"""The shape of the code: top-level packages import each other in one direction only.

The layers themselves are an import-linter contract in pyproject.toml (`lint-imports`, run by
`make lint`); this test is the tripwire a new import trips first: no two top-level packages
(or worker.py) may import each other, directly or through others. grimp (import-linter's own
graph builder) reads the imports, including those inside functions; TYPE_CHECKING-only
imports are left out, as they never run.
"""

from __future__ import annotations

import ast
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = sorted(
    path.name
    for path in ROOT.iterdir()
    if (path / "__init__.py").is_file() and path.name not in {"tests", "build"}
)
# Production code: what a deployment runs. It never reaches into the tools.
TOOLS = {"demo", "bench", "twilio_sandbox", "cli"}
PRODUCTION_MAX_LINES = 400


def _package_graph() -> dict[str, set[str]]:
    graph = grimp.build_graph(*PACKAGES, exclude_type_checking_imports=True)
    edges: dict[str, set[str]] = {name: set() for name in [*PACKAGES, "worker"]}
    for module in graph.modules:
        for imported in graph.find_modules_directly_imported_by(module):
            source, target = module.split(".")[0], imported.split(".")[0]
            if source != target:
                edges[source].add(target)
    # worker.py is a module, not a package: read its imports directly.
    tree = ast.parse((ROOT / "worker.py").read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            top = node.module.split(".")[0]
            if top in edges and top != "worker":
                edges["worker"].add(top)
    return edges


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one package (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(edges.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def test_no_import_cycle_among_top_level_packages() -> None:
    assert _cycles(_package_graph()) == []


def test_the_cycle_check_finds_a_cycle() -> None:
    """The tripwire itself works: a made-up back edge is reported."""
    edges = _package_graph()
    edges["domain"] = {*edges["domain"], "api"}
    assert any({"api", "domain"} <= set(cycle) for cycle in _cycles(edges))


def test_production_code_never_imports_the_tools() -> None:
    edges = _package_graph()
    production = set(edges) - TOOLS
    leaks = {name: sorted(edges[name] & TOOLS) for name in production if edges[name] & TOOLS}
    assert leaks == {}


def test_production_modules_stay_small() -> None:
    """What operators run (the CLI included) is kept in modules a reader can hold."""
    production = [name for name in PACKAGES if name not in TOOLS - {"cli"}] + ["worker.py"]
    long = {
        str(path.relative_to(ROOT)): lines
        for name in production
        for path in ([ROOT / name] if name.endswith(".py") else (ROOT / name).rglob("*.py"))
        if "migrations" not in path.parts
        and (lines := len(path.read_text().splitlines())) > PRODUCTION_MAX_LINES
    }
    assert long == {}, f"split these modules (over {PRODUCTION_MAX_LINES} lines): {long}"
