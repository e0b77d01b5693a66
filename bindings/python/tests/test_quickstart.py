"""The Python quick start prints exactly the Rust quick start's output."""

from __future__ import annotations

import subprocess
import sys

from conftest import EXAMPLES, ROOT


def test_the_quick_start_output_equals_the_expected_text() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "python" / "quickstart.py")],
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout == (EXAMPLES / "quickstart.expected").read_text()
