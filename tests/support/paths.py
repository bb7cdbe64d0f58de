"""Where ``shared/`` (the fixed spec and the worked examples) lives: beside the repository."""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SHARED = Path(os.environ.get("SETTLE_SHARED_DIR", REPO.parent / "shared"))
EXAMPLES = SHARED / "examples"


def examples_dir() -> Path:
    if not (EXAMPLES / "expected-bill-1.json").is_file():
        raise FileNotFoundError(
            f"shared examples not found at {EXAMPLES}; clone the project next to shared/ or set SETTLE_SHARED_DIR"
        )
    return EXAMPLES
