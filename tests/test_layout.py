"""The package's layers, read from every import (lazy ones inside functions too).

``fer``'s folders stand on each other in one order (docs/architecture.md): a module may import
its own folder and those below it, never one above, no import goes round in a circle, and the
library never imports the trainer. Gradio stays in ``fer.app``, so the pipeline runs without it.
"""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import ROOT

# Bottom to top; one entry a floor.
FLOORS = [("fer.utils",), ("fer.model",), ("fer.hub",), ("fer.pipeline",), ("fer.device",), ("fer.app", "fer.batch")]


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    """Every module ``path`` imports, at the top or inside a function."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return found


def floor_of(module: str) -> int | None:
    for floor, packages in enumerate(FLOORS):
        if any(module == package or module.startswith(package + ".") for package in packages):
            return floor
    return None


LIBRARY = {module_name(path): path for path in sorted((ROOT / "fer").rglob("*.py"))}
GRAPH = {name: {m for m in imports_of(path) if m in LIBRARY and m != name} for name, path in LIBRARY.items()}


def test_every_module_of_the_library_stands_on_a_floor():
    assert [name for name in LIBRARY if name != "fer" and floor_of(name) is None] == []


def test_no_module_imports_a_floor_above_its_own():
    upward = [
        f"{name} -> {imported}"
        for name, path in LIBRARY.items()
        if name != "fer"
        for imported in imports_of(path)
        if imported.startswith("fer.") and (floor_of(imported) or 0) > floor_of(name)
    ]
    assert upward == []


def test_no_imports_go_round_in_a_circle():
    circles, done = [], set()

    def visit(name: str, trail: list[str]) -> None:
        if name in trail:
            circles.append(" -> ".join([*trail[trail.index(name) :], name]))
            return
        if name in done:
            return
        for imported in sorted(GRAPH[name]):
            visit(imported, [*trail, name])
        done.add(name)

    for name in LIBRARY:
        visit(name, [])
    assert circles == []


def test_the_library_never_imports_the_trainer_and_only_the_app_imports_gradio():
    trainer = [name for name, path in LIBRARY.items() if any(m.split(".")[0] == "train" for m in imports_of(path))]
    gradio = [
        name
        for name, path in LIBRARY.items()
        if any(m.split(".")[0] == "gradio" for m in imports_of(path)) and floor_of(name) != len(FLOORS) - 1
    ]
    assert trainer == [] and gradio == []
