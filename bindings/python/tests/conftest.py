"""Shared paths, time and fixtures for the Python binding's tests."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import mcpguard

ROOT = Path(__file__).resolve().parents[3]
EXAMPLES = ROOT / "examples"
KEYS = ROOT / "conformance" / "keys"

#: The tests' "now": 2026-01-01T00:00:00Z.
NOW = 1767225600


def conformance_dir() -> Path:
    """``$MCPGUARD_CONFORMANCE_DIR``, else the repository's ``conformance/``."""
    configured = os.environ.get("MCPGUARD_CONFORMANCE_DIR")
    return Path(configured) if configured else ROOT / "conformance"


@pytest.fixture
def clock() -> mcpguard.ManualClock:
    """A manual clock at ``NOW``."""
    return mcpguard.ManualClock(NOW)
