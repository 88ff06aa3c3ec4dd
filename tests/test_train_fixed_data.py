"""The main command never fails because the machine is slow (issue 8 item 8): ``zili demo``
trains a fixed number of steps, a wall-clock cap stops it early with a line saying so, it
exits 0 once training ran and prints the quality line either way."""

from __future__ import annotations

import pytest

import zili
from zili.cli.demo import quality_line
from zili.cli.main import main

TINY = ["--max-chars", "20000", "--min-count", "3", "--context", "16", "--n-layer", "1",
        "--n-embd", "32", "--n-head", "2", "--batch-size", "4", "--eval-batches", "2",
        "--device", "numpy", "--no-progress", "--prompt", "中国", "--max-new-tokens", "3"]


def test_demo_trains_the_fixed_number_of_steps_and_exits_0(
        tmp_path: pytest.TempPathFactory, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", *TINY, "--steps", "3", "--out", str(tmp_path)]) == 0
    said = capsys.readouterr().out
    state = zili.load(str(tmp_path / "ckpt.safetensors"))
    assert state["step"] == 3 and state["metrics"]["stopped_early"] is False
    assert "wall-clock cap" not in said
    val, unigram = state["metrics"]["val_loss"], state["metrics"]["unigram_baseline"]
    # Three tiny steps do not beat the unigram baseline: the demo says so and still exits 0.
    assert val > unigram
    assert "quality: the model does NOT beat the unigram baseline" in said
    assert "after only" not in said


def test_a_wall_clock_cap_stops_early_with_a_line_and_still_exits_0(
        tmp_path: pytest.TempPathFactory, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", *TINY, "--steps", "50", "--time-budget", "0",
                 "--out", str(tmp_path)]) == 0
    said = capsys.readouterr()
    state = zili.load(str(tmp_path / "ckpt.safetensors"))
    assert state["step"] == 1 and state["metrics"]["stopped_early"] is True
    assert "wall-clock cap of 0s reached: stopping after step 1 of 50" in said.err + said.out
    assert "quality:" in said.out and "after only 1 of 50 steps" in said.out


def test_quality_line_compares_with_the_baseline() -> None:
    assert "beats the unigram baseline by 0.5000" in quality_line(5.5, 6.0, 10, 10)
    assert "does NOT beat" in quality_line(6.5, 6.0, 10, 10)
    assert "after only 4 of 10 steps" in quality_line(5.5, 6.0, 4, 10)
