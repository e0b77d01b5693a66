"""Shared paths for the Python binding's tests."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
EXAMPLES = ROOT / "examples"
KEYS = ROOT / "conformance" / "keys"


def conformance_dir() -> Path:
    """``$MCPGUARD_CONFORMANCE_DIR``, else the repository's ``conformance/``."""
    configured = os.environ.get("MCPGUARD_CONFORMANCE_DIR")
    return Path(configured) if configured else ROOT / "conformance"
