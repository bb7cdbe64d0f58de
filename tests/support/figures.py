"""Figures a test wants in the run's output (stress counts, matrix cells): printed by
``pytest_terminal_summary`` in ``tests/conftest.py`` even when output is captured."""

from __future__ import annotations

FIGURES: list[str] = []


def report(line: str) -> None:
    print(line)
    FIGURES.append(line)
