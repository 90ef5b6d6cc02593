"""Generation progress: chunked cache fills report it, one watcher prints it."""

from __future__ import annotations

import json
import time

import pytest
from scripted import PROMPTS, teacher_fn

from pytest_bbi.generation.cache import GenerationCache
from pytest_bbi.generation.cached_model import CachedModel
from pytest_bbi.generation.progress import ProgressFile, ProgressWatcher, describe
from pytest_bbi.models import from_callable

SEEDS = list(range(len(PROMPTS)))


def test_describe_reports_done_total_and_rate():
    assert describe("teacher", 120, 400, 4.0) == (
        "bbi: generating teacher: 120/400 completions (30.0/s)"
    )


def test_the_watcher_prints_long_generations_and_stays_quiet_on_short_ones(tmp_path):
    lines: list[str] = []
    watcher = ProgressWatcher(tmp_path, lines.append, interval=5.0)
    now = time.time()
    ProgressFile(tmp_path, "gw0").update("quick", 10, 10, now - 0.1)
    slow = ProgressFile(tmp_path, "gw1")
    slow.update("slow", 50, 400, now - 10)
    watcher.check()
    assert len(lines) == 1
    assert lines[0].startswith("bbi: generating slow: 50/400 completions (")
    watcher.check()  # nothing new
    assert len(lines) == 1
    slow.update("slow", 400, 400, now - 10)
    watcher.check()  # the end is printed at once
    assert len(lines) == 2
    assert "slow: 400/400" in lines[1]
    assert not any("quick" in line for line in lines)


def test_a_quick_generation_stays_quiet_however_late_the_watcher_looks(tmp_path):
    lines: list[str] = []
    now = time.time()
    # Finished in 0.1 s, ten seconds ago: the watcher looks long after it ended.
    record = {"model": "quick", "done": 10, "total": 10, "started": now - 10, "updated": now - 9.9}
    (tmp_path / "gw0.progress.json").write_text(json.dumps(record))
    ProgressWatcher(tmp_path, lines.append, interval=5.0).check()
    assert lines == []


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
