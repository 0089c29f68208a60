"""docs/config.md is the reference generated from the schema, and it covers every key."""

from __future__ import annotations

from pathlib import Path

from bench.config import tables
from bench.config.reference import reference_markdown
from gridbench.cli import main

DOCS = Path(__file__).resolve().parents[2] / "docs" / "config.md"


def test_committed_reference_equals_the_generated_one() -> None:
    assert DOCS.read_text() == reference_markdown(), (
        "docs/config.md is stale: run `gridbench config reference -o docs/config.md`"
    )


def test_every_key_has_a_row_with_its_default_and_range() -> None:
    text = reference_markdown()
    assert "| `tax_rate` | float | fraction | `0.1` | [0, 1) | tax on the price |" in text
    assert (
        "| `reading_interval_s` | float | s | `0.1` | [0.01, 16.383] | "
        "each meter sends a reading this often (real time) |" in text
    )
    assert "| `speed` | float |  | `1800.0` | (0, 100000] |" in text
    assert "| `id` | str |  | required |" in text
    for table in tables.DOCUMENT.tables:
        for sub in (table, *table.tables):
            for key in sub.keys:
                assert f"| `{key.name}` |" in text, key.name


def test_the_command_writes_it(tmp_path: Path) -> None:
    out = tmp_path / "config.md"
    assert main(["config", "reference", "-o", str(out)]) == 0
    assert out.read_text() == reference_markdown()
