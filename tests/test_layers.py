"""The import rule of docs/architecture.md ("Layers"): each part of ``app`` imports only parts below it.

``api``, ``desk``, ``fhir`` and ``sample`` (the interfaces; the sample is loaded through the
services; the desk and the FHIR interface build on the API's auth and audit, never the other way) ->
``nhsa`` (the national platform's dialect: its envelope, transactions and answers, which the API
serves) -> ``services`` (use cases) -> ``schemas`` (request and response models, their
renderers) -> ``ledger`` (locks, accumulators, persistence of money movements: typed values in,
stored rows out) -> ``db`` (tables, sessions, the transaction boundary) and ``engine`` (the pure
rules, independent of each other), -> the leaf modules (errors, settings, the heap, …).  Function-local
imports count too.
"""

from __future__ import annotations

import ast
from pathlib import Path

from tests.support.paths import REPO

APP = REPO / "app"

#: Top to bottom; a part may import its own layer's parts and any layer below, never one above.
LAYERS: list[set[str]] = [
    {"__main__", "cli"},
    {"main"},
    {"api", "desk", "fhir", "sample"},
    {"nhsa"},
    {"services"},
    {"schemas"},
    {"ledger"},
    {"db", "engine"},
    {"clock", "errors", "heap", "logs", "metrics", "principal", "privacy", "settings", "__init__"},
]
#: Parts of one layer that must not import each other.
INDEPENDENT = [{"db", "engine"}, {"desk", "sample"}, {"desk", "fhir"}, {"fhir", "sample"}]
#: Parts of one layer that only the second may import: (base, built on it).
ONE_WAY = [("api", "desk"), ("api", "fhir")]


def _part(module: str) -> str:
    pieces = module.split(".")
    return pieces[1] if len(pieces) > 1 else "__init__"


def _is_part(app: Path, name: str) -> bool:
    return (app / f"{name}.py").is_file() or (app / name).is_dir()


def _imports(path: Path, top: Path) -> list[tuple[str, int]]:
    package = list(path.relative_to(top).parts[:-1])
    found: list[tuple[str, int]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(a.name, node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)]
                module = ".".join([*base, *([node.module] if node.module else [])])
            else:
                module = node.module or ""
            if module == "app":  # from app import api (a part), __version__ (the package's own)
                found += [
                    (f"app.{a.name}" if _is_part(top / "app", a.name) else "app", node.lineno) for a in node.names
                ]
            else:
                found.append((module, node.lineno))
    return [(m, line) for m, line in found if m == "app" or m.startswith("app.")]


def _layer(part: str) -> int:
    for i, layer in enumerate(LAYERS):
        if part in layer:
            return i
    raise AssertionError(f"app/{part} is in no layer of tests/test_layers.py: place it")


def upward_imports(root: Path) -> list[str]:
    wrong = []
    for path in sorted(root.rglob("*.py")):
        if "migrations" in path.parts:
            continue
        rel = path.relative_to(root.parent)
        source = _part(".".join(rel.with_suffix("").parts))
        for module, line in _imports(path, root.parent):
            target = _part(module)
            if target == source:
                continue
            if (
                _layer(target) < _layer(source)
                or any({source, target} <= group for group in INDEPENDENT)
                or (source, target) in ONE_WAY
            ):
                wrong.append(f"{rel}:{line} imports {module} ({source} may not import {target})")
    return wrong


def test_imports_go_one_way() -> None:
    assert upward_imports(APP) == []


def test_the_rule_catches_an_upward_import(tmp_path: Path) -> None:
    fake = tmp_path / "app"
    (fake / "ledger").mkdir(parents=True)
    (fake / "engine").mkdir()
    (fake / "ledger" / "x.py").write_text(
        "from app.services import claims\nfrom app.engine import money\nfrom app.schemas.settlements import money\n"
    )
    (fake / "engine" / "y.py").write_text("def f():\n    from app.db import tables\n")
    (fake / "api").mkdir()
    (fake / "fhir").mkdir()
    (fake / "api" / "z.py").write_text("from app.fhir import routes\n")
    (fake / "fhir" / "w.py").write_text("from app.api import auth\n")
    assert upward_imports(fake) == [
        "app/api/z.py:1 imports app.fhir (api may not import fhir)",
        "app/engine/y.py:2 imports app.db (engine may not import db)",
        "app/ledger/x.py:1 imports app.services (ledger may not import services)",
        "app/ledger/x.py:3 imports app.schemas.settlements (ledger may not import schemas)",
    ]
