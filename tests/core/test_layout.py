"""The package layout as a checked rule, not prose: `core` has no import cycles, runtime code never
reaches the developer tooling or the command line, and `core` never imports Qt, the app or the trainer.

Imports are read from the source (every `import`, also inside functions), so a cycle hidden in a
function body counts too.
"""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TOOLING = ("core.cli", "core.bench")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def core_modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted((ROOT / "core").rglob("*.py"))}


def imported_names(path: Path, modules: dict[str, Path]) -> set[str]:
    """Every module `path` imports; `from pkg import sub` counts as importing pkg.sub when sub is one."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                names.add(sub if sub in modules else node.module)
    return names


def import_graph() -> dict[str, set[str]]:
    modules = core_modules()
    return {name: imported_names(path, modules) for name, path in modules.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module, or a module importing itself (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, ()):
            if target not in graph:
                continue
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
            if len(component) > 1 or node in graph.get(node, ()):
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_core_has_no_import_cycles():
    assert cycles(import_graph()) == []


def test_the_cycle_check_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"a"}}) == [["a"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_runtime_code_never_imports_the_command_line_or_the_bench_tooling():
    offenders = [
        f"{module} imports {target}"
        for module, targets in import_graph().items()
        if not module.startswith(TOOLING)
        for target in targets
        if target.startswith(TOOLING)
    ]
    assert offenders == []


def test_the_bench_tooling_builds_on_the_command_line_never_the_other_way():
    offenders = [
        f"{module} imports {target}"
        for module, targets in import_graph().items()
        if module.startswith("core.cli")
        for target in targets
        if target.startswith("core.bench")
    ]
    assert offenders == []


def test_core_never_imports_qt_the_app_or_the_trainer():
    forbidden = ("PyQt6", "PySide6", "app", "trainer")
    offenders = [
        f"{module} imports {target}"
        for module, targets in import_graph().items()
        for target in targets
        if target.split(".")[0] in forbidden
    ]
    assert offenders == []


def test_the_app_and_the_trainer_use_the_subpackages_public_surface():
    """`app/` and `trainer/` import what a subpackage's __init__ exports, never its private modules
    (leaf modules and the command-line helpers excepted)."""
    import importlib

    modules = core_modules()
    offenders = []
    for path in sorted([*ROOT.glob("app/*.py"), *ROOT.glob("trainer/*.py")]):
        for node in ast.walk(ast.parse(path.read_text())):
            if not (isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("core.")):
                continue
            package = ".".join(node.module.split(".")[:2])
            if package in modules and package != node.module and package not in TOOLING:
                public = set(getattr(importlib.import_module(package), "__all__", ()))
                names = {alias.name for alias in node.names}
                if not names <= public:
                    offenders.append(f"{path.name}: from {node.module} import {', '.join(sorted(names))}")
    assert offenders == []
