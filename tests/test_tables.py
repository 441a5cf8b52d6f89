"""docs/tables.py: every generated table matches bench/results, and how a table is rendered."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("tables", ROOT / "docs" / "tables.py")
tables = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(tables)

FAKE = {"passthrough": {
    "machine": {"cpu": "Test CPU", "cpu_count": 4},
    "results": {"720p": {"width": 1280, "height": 720, "frames": 10, "plain_fps": 20.05, "pipeline_fps": 19.0,
                         "ratio": 0.9476, "plain_fps_runs": [20.05, 18.0], "pipeline_fps_runs": [19.0, 17.5]}},
}}
FAKE_TABLE = """\
| 10 frames, Test CPU, 4 CPUs, best of 2 | plain PyAV loop fps | `--model none` fps | ratio |
|---|---:|---:|---:|
| 720p (1280x720) | 20.1 | 19.0 | 0.95 |
"""

REALTIME = {"machine": {"cpu_count": 2}, "results": {
    "720p": {"fps": {"plain": 100.0, "none": 99.0, "default": 80.0, "every_face": 30.0},
             "ratio_to_plain": {"none": 0.99, "default": 0.8, "every_face": 0.3},
             "fps_runs": {"plain": [100.0]}, "face_paths": {"default": {"sharp": 5}}},
    "720p_blurred": {"fps": {"plain": 50.0, "default": 25.0}, "ratio_to_plain": {"default": 0.5},
                     "fps_runs": {"plain": [50.0]}, "face_paths": {"default": {"restored": 3, "sharp": 2}}},
}}
REALTIME_TABLE = """\
| fps (ratio to plain), 2 CPUs, best of 1 | plain transcode | `--model none` | default | `--blur-gate 0` \
| faces restored by default |
|---|---:|---:|---:|---:|---:|
| 720p | 100.0 | 99.0 (0.99) | 80.0 (0.80) | 30.0 (0.30) | 0 of 5 |
| 720p blurred copy | 50.0 | | 25.0 (0.50) | | 3 of 5 |
"""


def test_every_generated_block_matches_its_results_file():
    results = tables.load_results()
    named = set()
    for document in tables.DOCUMENTS:
        text = document.read_text()
        named |= {match["name"] for match in tables.blocks(text)}
        assert tables.stale(text, results) == [], f"{document.name}: run python docs/tables.py"
    assert {name for name in named if not name.startswith("eval-")} == set(tables.RENDERERS)
    assert any(name.startswith("eval-") for name in named), "the model card's evaluation tables are generated"


def test_render_of_fake_results():
    assert tables.render("passthrough", FAKE) == FAKE_TABLE
    assert tables.render("realtime", {"realtime": REALTIME}) == REALTIME_TABLE


def test_regenerate_rewrites_only_inside_the_markers():
    text = "before\n<!-- generated: passthrough -->\n| old |\n<!-- /generated -->\nafter `<!-- generated: x -->`\n"
    assert tables.stale(text, FAKE) == ["passthrough"]
    new = tables.regenerate(text, FAKE)
    assert new == text.replace("| old |\n", FAKE_TABLE)
    assert tables.stale(new, FAKE) == []


@pytest.mark.parametrize("text", ["<!-- generated: passthrough -->\n| old |\n",
                                  "<!-- generated: nothing -->\n<!-- /generated -->\n"])
def test_unterminated_or_unknown_blocks_are_errors(text):
    with pytest.raises(ValueError):
        tables.regenerate(text, FAKE)


def test_numbers_round_half_up_from_their_json_text():
    assert [tables.fixed(v, 2) for v in (0.305, 0.515, 1.0)] == ["0.31", "0.52", "1.00"]
    assert tables.fixed(110.05, 1) == "110.1"
