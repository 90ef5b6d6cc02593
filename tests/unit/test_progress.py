"""Progress of long phases: phases report, one watcher prints; cache fills report as phases."""

from __future__ import annotations

import json

import pytest
from scripted import PROMPTS, teacher_fn

from pytest_bbi import progress
from pytest_bbi.generation.cache import GenerationCache
from pytest_bbi.generation.cached_model import CachedModel
from pytest_bbi.generation.progress import ProgressFile
from pytest_bbi.models import from_callable

SEEDS = list(range(len(PROMPTS)))


@pytest.fixture
def clock(monkeypatch):
    """A settable clock for every record and for the watcher."""
    now = [1_000_000.0]
    monkeypatch.setattr(progress, "_now", lambda: now[0])
    return now


@pytest.fixture
def folder(tmp_path):
    progress.configure(tmp_path, "gw0")
    yield tmp_path
    progress.configure(None)


def test_lines_give_done_total_rate_and_time_left(clock, folder):
    lines: list[str] = []
    watcher = progress.ProgressWatcher(folder, lines.append, progress.TERMINAL)
    with progress.phase("generating teacher", total=400, unit="completions") as fill:
        clock[0] += 4.0
        fill.advance(120)
        watcher.check()
        assert lines == []  # not 5 s yet
        clock[0] += 2.0
        watcher.check()
        assert lines == [
            "bbi: generating teacher: 120/400 completions (20.0 completions/s, about 14 s left)"
        ]
        clock[0] += 20.0
        fill.advance(280)
    watcher.check()
    assert lines[-1] == "bbi: generating teacher: 400/400 completions in 26 s (15.4 completions/s)"
    assert not list(folder.glob("*.progress.json")), "the ended phase's record is removed"


def test_a_phase_without_total_shows_time_then_done(clock, folder):
    lines: list[str] = []
    watcher = progress.ProgressWatcher(folder, lines.append, progress.TERMINAL)
    with progress.phase("starting the vLLM server"):
        for _ in range(25):
            clock[0] += 1.0
            watcher.check()
    watcher.check()
    assert lines == [
        "bbi: starting the vLLM server: 5 s so far",
        "bbi: starting the vLLM server: 15 s so far",
        "bbi: starting the vLLM server: 25 s so far",
        "bbi: starting the vLLM server: done in 25 s",
    ]


def test_a_failed_phase_says_it_stopped(clock, folder):
    lines: list[str] = []
    watcher = progress.ProgressWatcher(folder, lines.append, progress.TERMINAL)

    def train() -> None:
        with progress.phase("training", total=10) as training:
            training.advance(3)
            clock[0] += 7.0
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        train()
    watcher.check()
    assert lines == ["bbi: training: stopped after 7 s (3/10 steps)"]


def test_quick_phases_stay_quiet_however_late_the_watcher_looks(clock, folder):
    lines: list[str] = []
    with progress.phase("quick", total=10) as quick:
        clock[0] += 0.1
        quick.advance(10)
    clock[0] += 100.0
    progress.ProgressWatcher(folder, lines.append, progress.TERMINAL).check()
    assert lines == []
    assert not list(folder.glob("*.progress.json"))


def test_a_phase_seen_only_after_it_ended_gets_its_one_line(clock, folder):
    lines: list[str] = []
    with progress.phase("converting", total=4) as conversion:
        clock[0] += 12.0
        conversion.advance(4)
    clock[0] += 3.0
    watcher = progress.ProgressWatcher(folder, lines.append, progress.TERMINAL)
    watcher.check()
    watcher.check()
    assert lines == ["bbi: converting: 4/4 steps in 12 s (0.3 steps/s)"]


def test_the_log_cadence_leaves_out_phases_under_half_a_minute(clock, folder):
    lines: list[str] = []
    watcher = progress.ProgressWatcher(folder, lines.append, progress.LOG)
    with progress.phase("a", total=2) as short:
        clock[0] += 20.0
        watcher.check()
        short.advance(2)
    with progress.phase("b", total=100) as long:
        for _ in range(10):
            clock[0] += 10.0
            long.advance(10)
            watcher.check()
    watcher.check()
    assert [line.split(":")[1] for line in lines] == [" b", " b", " b"]
    assert lines[0].startswith("bbi: b: 30/100 steps")
    assert lines[1].startswith("bbi: b: 90/100 steps")
    assert lines[2].startswith("bbi: b: 100/100 steps in 1 min 40 s")


def test_a_running_phase_of_a_process_that_died_is_dropped(clock, folder):
    lines: list[str] = []
    record = {
        "name": "orphan",
        "unit": "steps",
        "done": 1,
        "total": 9,
        "started": clock[0] - 60,
        "updated": clock[0] - 50,
        "state": "running",
        "pid": 2**22 + 12345,  # beyond pid_max: no such process
    }
    (folder / "gw9-1-0.progress.json").write_text(json.dumps(record))
    progress.ProgressWatcher(folder, lines.append, progress.TERMINAL).check()
    assert len(lines) <= 1
    assert not list(folder.glob("*.progress.json"))


def test_outside_a_session_phases_write_nothing(tmp_path):
    progress.configure(None)
    with progress.phase("anything", total=3) as work:
        work.advance(3)
    assert work.done == 3
    assert not progress.reporting()


def test_durations_read_as_people_write_them():
    assert progress.duration(8.4) == "8 s"
    assert progress.duration(125) == "2 min 05 s"
    assert progress.duration(3720) == "1 h 02 min"


def test_chunked_fills_store_each_chunk_and_report_progress(tmp_path):
    calls: list[int] = []

    def batched(prompts, seeds):
        calls.append(len(prompts))
        return [teacher_fn(prompt, seed) for prompt, seed in zip(prompts, seeds, strict=True)]

    model = from_callable(batched, name="teacher", batched=True)
    reported: list[tuple[int, int]] = []

    class Recorder(ProgressFile):
        def update(self, model: str, done: int, total: int, started: float) -> None:
            reported.append((done, total))

    with GenerationCache(tmp_path) as cache:
        cached = CachedModel(
            model, cache, chunk_size=16, progress=Recorder(tmp_path / "progress", "main")
        )
        completions = cached.generate(PROMPTS[:40], SEEDS[:40])
    assert calls == [16, 16, 8]
    assert reported == [(16, 40), (32, 40), (40, 40)]
    assert completions == [teacher_fn(p, s) for p, s in zip(PROMPTS[:40], SEEDS[:40], strict=True)]


def test_an_interrupted_fill_keeps_the_chunks_it_finished(tmp_path):
    def breaks_on_third_chunk(prompts, seeds):
        if breaks_on_third_chunk.calls == 2:
            raise RuntimeError("server went away")
        breaks_on_third_chunk.calls += 1
        return [teacher_fn(prompt, seed) for prompt, seed in zip(prompts, seeds, strict=True)]

    breaks_on_third_chunk.calls = 0
    model = from_callable(breaks_on_third_chunk, name="teacher", batched=True)
    with GenerationCache(tmp_path) as cache:
        with pytest.raises(RuntimeError, match="went away"):
            CachedModel(model, cache, chunk_size=10).generate(PROMPTS[:30], SEEDS[:30])
        stored = cache.get_many(model.identity, PROMPTS[:30], SEEDS[:30])
    assert stored[:20] == [teacher_fn(p, s) for p, s in zip(PROMPTS[:20], SEEDS[:20], strict=True)]
    assert stored[20:] == [None] * 10


def test_chunk_size_must_be_positive(tmp_path):
    with GenerationCache(tmp_path) as cache, pytest.raises(ValueError, match="chunk_size"):
        CachedModel(from_callable(teacher_fn, name="t"), cache, chunk_size=0)
