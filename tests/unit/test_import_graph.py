"""The house rules that code can check: no import circle between modules, no source file past 600 lines.

Every import counts: at module level, inside functions and under ``TYPE_CHECKING``. A circle means two
modules each need the other to be understood, which is what the layering (protocol, auth, state,
services, hosts) exists to prevent.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ("controller", "agent")
MAX_LINES = 600


def module_files(package: str) -> dict[str, Path]:
    """Dotted module name -> file, for every module of ``package`` (a package is its ``__init__``)."""
    modules = {}
    for path in (REPO / package).rglob("*.py"):
        parts = path.relative_to(REPO).with_suffix("").parts
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return modules


def import_graph(modules: dict[str, Path]) -> dict[str, set[str]]:
    """Module -> the modules of the same tree it imports (``from pkg import mod`` names the submodule)."""

    def known(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        targets: set[str | None] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets.update(known(alias.name) for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets.update(known(f"{node.module}.{alias.name}") for alias in node.names)
        graph[name] = {target for target in targets if target and target != name}
    return graph


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm, iteratively)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, successors = work[-1]
            step = next(successors, None)
            if step is not None:
                if step not in index:
                    index[step] = low[step] = len(index)
                    stack.append(step)
                    on_stack.add(step)
                    work.append((step, iter(sorted(graph[step]))))
                elif step in on_stack:
                    low[node] = min(low[node], index[step])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
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
    return found


def test_the_detector_finds_a_circle_and_only_circles() -> None:
    assert circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert circles({"a": {"b"}, "b": set()}) == []


@pytest.mark.parametrize("package", PACKAGES)
def test_no_import_circle(package: str) -> None:
    assert circles(import_graph(module_files(package))) == []


@pytest.mark.parametrize("package", PACKAGES)
def test_no_source_file_past_600_lines(package: str) -> None:
    long = {str(path.relative_to(REPO)): count for path in module_files(package).values()
            if (count := len(path.read_text().splitlines())) > MAX_LINES}
    assert long == {}


def imported_modules(path: Path) -> set[str]:
    """Every absolute module name ``path`` imports, as written (``from a import b`` gives ``a.b`` and ``a``)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def crossings(modules: dict[str, Path], allowed: tuple[str, ...], forbidden: tuple[str, ...]) -> dict[str, list[str]]:
    """Module -> the imports it makes under ``forbidden`` that are not under ``allowed`` (``from agent import
    contract`` names the bare package too, which says nothing on its own and is let through)."""

    def under(name: str, roots: tuple[str, ...]) -> bool:
        return any(name == root or name.startswith(root + ".") for root in roots)

    found = {}
    for name, path in modules.items():
        bad = sorted(i for i in imported_modules(path)
                     if under(i, forbidden) and not under(i, allowed) and i not in forbidden)
        if bad:
            found[name] = bad
    return found


def contract_modules() -> dict[str, Path]:
    return {name: path for name, path in module_files("agent").items()
            if name == "agent.contract" or name.startswith("agent.contract.")}


def test_the_controller_reaches_the_agent_only_through_the_contract() -> None:
    assert crossings(module_files("controller"), allowed=("agent.contract",), forbidden=("agent",)) == {}


def test_the_contract_imports_nothing_of_either_side() -> None:
    assert crossings(contract_modules(), allowed=("agent.contract",), forbidden=("agent", "controller")) == {}


def test_the_crossing_rule_sees_a_forbidden_import(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("from agent.network import naming\nfrom agent.contract import cidr\nimport controller.cli\n")
    assert crossings({"m": module}, allowed=("agent.contract",), forbidden=("agent", "controller")) == {
        "m": ["agent.network", "agent.network.naming", "controller.cli"]}
