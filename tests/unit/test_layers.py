"""The floors of the house: a package imports its own modules and those of lower floors,
never a higher floor's nor a neighbour's on its own floor (README, "Map")."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# Lowest first. ``conveyor`` is the root package itself (its ``__version__``).
FLOORS: list[set[str]] = [
    {"conveyor", "exceptions", "common"},
    {"config"},
    {"runtime", "schemas", "store"},
    {"kafka"},
    {"monitoring", "infra"},
    {"producers", "ops", "processors", "client"},
    {"dashboard"},
    {"api", "bench"},
    {"cli"},
]
FLOOR_OF = {package: level for level, packages in enumerate(FLOORS) for package in packages}


def package_of(module: str) -> str:
    """The room of ``conveyor.a.b``: ``a`` (``conveyor`` for the root package itself)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "conveyor"


def source_files() -> Iterator[Path]:
    for path in sorted(ROOT.rglob("*.py")):
        relative = path.relative_to(ROOT)
        if relative.parts[0] not in {"tests", ".venv", ".typecheck"} and not any(
            part.startswith(".") for part in relative.parts
        ):
            yield path


def imported_modules(path: Path) -> Iterator[tuple[int, str]]:
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module == "conveyor":
            # ``from conveyor import x``: a room if x is one, else the root package's own.
            for alias in node.names:
                is_room = (ROOT / alias.name).is_dir() or (ROOT / f"{alias.name}.py").is_file()
                yield node.lineno, f"conveyor.{alias.name}" if is_room else "conveyor"
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.lineno, node.module
        elif isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name


def room_of(path: Path) -> str:
    relative = path.relative_to(ROOT)
    return (
        relative.parts[0]
        if len(relative.parts) > 1
        else relative.stem.replace("__init__", "conveyor")
    )


def test_every_room_has_a_floor() -> None:
    rooms = {room_of(path) for path in source_files()}
    assert rooms - FLOOR_OF.keys() == set(), (
        "a new folder needs its floor in FLOORS and the README's map"
    )


def test_no_room_imports_a_higher_floor_or_a_neighbour() -> None:
    wrong = []
    for path in source_files():
        room = room_of(path)
        for line, module in imported_modules(path):
            if module != "conveyor" and not module.startswith("conveyor."):
                continue
            target = package_of(module)
            if target != room and FLOOR_OF[target] >= FLOOR_OF[room]:
                wrong.append(
                    f"{path.relative_to(ROOT)}:{line} ({room}) imports {module} ({target})"
                )
    assert wrong == []


@pytest.mark.parametrize(
    ("module", "room"),
    [
        ("conveyor.kafka.events", "kafka"),
        ("conveyor", "conveyor"),
        ("conveyor.exceptions", "exceptions"),
    ],
)
def test_a_module_is_placed_in_its_room(module: str, room: str) -> None:
    assert package_of(module) == room
