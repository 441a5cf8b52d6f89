"""The README's table of what the filter does under faults names tests that exist."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_every_test_the_fault_table_names_exists():
    readme = (ROOT / "README.md").read_text()
    table = readme.split("### Under faults", 1)[1].split("\n## ", 1)[0]
    named = re.findall(r"`(test_\w+\.py)(?:::(test_\w+))?`", table)
    assert len(named) >= 10, "the fault table names the tests that back it"
    for module, test in named:
        path = ROOT / "tests" / module
        assert path.is_file(), f"README names {module}, which does not exist"
        if test:
            assert re.search(rf"^def {test}\(", path.read_text(), re.M), f"README names {module}::{test}"
