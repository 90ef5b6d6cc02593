"""The MiniLM encoder's backends side by side: cold start, passes, memory, agreement, the class.

Run: ``python bench/encoder.py [--out bench/encoder_results.json]`` (about 10 minutes on a
loaded 2-core box). Each backend (``torch``: today's sentence-transformers on PyTorch;
``onnx-fp32`` and ``onnx``: ONNX Runtime, float32 and int8 weights) runs in fresh worker
processes, one after another, so each process's peak memory is its own:

1. cold start: a new Python process that imports the encoder, loads it and embeds one text
   (the ONNX export already cached; three starts per backend, interleaved; the median).
2. one pass of ``embed`` over the first 1000 and 5000 texts of the corpus.
3. games: teacher texts are real paragraphs; the student's are the same paragraphs with a
   seeded distortion (``dropout``: every word dropped with probability 0.08; ``tic``: "Hope
   this helps!" appended to 30 %). At q queries the first q/2 pairs train and the other q/2 are
   held-out trials, shown in a seeded random order. For each game: the time of one ``embed``
   pass over its 2q distinct texts, the default class's cold compute (stylometric, embedding,
   kernel ``decide``, the encoder loaded beforehand as a game loads it), and each adversary's
   held-out accuracy.
4. agreement: every ONNX embedding of the 5000-text pass against PyTorch's (max |Δ|, cosines).

The corpus is real human prose found on any machine with this project installed: the
paragraphs of every installed distribution's long description and of the standard library's
docstrings (60 to 2000 characters, mostly letters), deduplicated, in a fixed order.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import platform
import random
import re
import resource
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
from importlib import metadata
from pathlib import Path

BACKENDS = ("torch", "onnx-fp32", "onnx")
PASSES = (1000, 5000)
GAMES = (("dropout", 1000), ("tic", 1000), ("dropout", 5000))
TIC = " Hope this helps!"


def _paragraphs(text):
    for paragraph in re.split(r"\n\s*\n", text):
        paragraph = " ".join(paragraph.split())
        letters = sum(char.isalpha() or char == " " for char in paragraph)
        if 60 <= len(paragraph) <= 2000 and letters > 0.85 * len(paragraph):
            yield paragraph


def corpus():
    """Real paragraphs: installed packages' long descriptions, then stdlib docstrings."""
    seen = {}
    distributions = sorted(metadata.distributions(), key=lambda d: d.metadata["Name"] or "")
    for distribution in distributions:
        description = distribution.metadata.get_payload() or distribution.metadata["Description"]
        for paragraph in _paragraphs(description or ""):
            seen.setdefault(paragraph, None)
    for path in sorted(Path(sysconfig.get_paths()["stdlib"]).glob("*.py")):
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        except (SyntaxError, UnicodeDecodeError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
                for paragraph in _paragraphs(ast.get_docstring(node) or ""):
                    seen.setdefault(paragraph, None)
    return list(seen)


def distort(text, game, rng):
    if game == "dropout":
        words = text.split()
        kept = [word for word in words if rng.random() >= 0.08] or words[:1]
        return " ".join(kept)
    return text + TIC if rng.random() < 0.3 else text


def game_pairs(texts, game, q, seed=0):
    from pytest_bbi.adversaries import LabeledPair, Trial

    rng = random.Random(f"{game}-{q}-{seed}")
    teachers = texts[:q]
    students = [distort(text, game, rng) for text in teachers]
    half = q // 2
    train = [LabeledPair("", t, s) for t, s in zip(teachers[:half], students[:half], strict=True)]
    trials, truth = [], []
    for teacher, student in zip(teachers[half:], students[half:], strict=True):
        first_is_teacher = rng.random() < 0.5
        first, second = (teacher, student) if first_is_teacher else (student, teacher)
        trials.append(Trial("", first, second))
        truth.append(first_is_teacher)
    return train, trials, truth, sorted(set(teachers) | set(students))


def worker(backend, out):
    """One backend in this process: load, passes, games; writes JSON and the 5000 embeddings."""
    import numpy as np

    from pytest_bbi.adversaries import Deadline, resolve
    from pytest_bbi.adversaries.encoder import embed, encoder_identity, load_encoder

    texts = corpus()
    result = {"backend": backend, "identity": encoder_identity()}
    began = time.perf_counter()
    load_encoder()
    result["load_seconds"] = time.perf_counter() - began
    embed(texts[:64], Deadline(None))  # first-call allocations out of the timed passes
    for n in PASSES:
        began = time.perf_counter()
        rows = embed(texts[:n], Deadline(None))
        result[f"pass_{n}_seconds"] = time.perf_counter() - began
    np.save(out.with_suffix(".npy"), rows)
    result["games"] = []
    for game, q in GAMES:
        train, trials, truth, distinct = game_pairs(texts, game, q)
        began = time.perf_counter()
        embed(distinct, Deadline(None))
        row = {"game": game, "q": q, "texts": len(distinct)}
        row["pass_seconds"] = time.perf_counter() - began
        row["class_seconds"], row["accuracy"] = 0.0, {}
        for adversary in resolve(None):
            began = time.perf_counter()
            probabilities = adversary.decide(train, trials, Deadline(None))
            row["class_seconds"] += time.perf_counter() - began
            right = [(p > 0.5) == first for p, first in zip(probabilities, truth, strict=True)]
            row["accuracy"][adversary.name] = sum(right) / len(right)
        result["games"].append(row)
    result["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out.write_text(json.dumps(result))


def interleaved(n, rounds):
    """Passes over the same n texts in one process, the backends taking turns: ratios that the
    load of a shared machine moves far less than it moves back-to-back workers' times."""
    from pytest_bbi.adversaries import encoder
    from pytest_bbi.adversaries.base import Deadline

    texts = corpus()[:n]
    encoders = {backend: encoder.open_encoder(backend) for backend in BACKENDS}
    seconds = {backend: [] for backend in BACKENDS}
    for _ in range(rounds + 1):
        for backend, loaded in encoders.items():
            encoder.load_encoder = lambda loaded=loaded: loaded
            began = time.perf_counter()
            encoder.embed(texts, Deadline(None))
            seconds[backend].append(time.perf_counter() - began)
    return {backend: times[1:] for backend, times in seconds.items()}  # the first round warms


def side_by_side(rounds, games=GAMES):
    """Issue 16's must-show 3 in one process: per game, the default class cold against one pass
    of today's encoder (sentence-transformers on PyTorch) over the same distinct texts.

    The two take turns ``rounds`` times after a warm-up round (which also plays the class on
    the PyTorch encoder, for today's accuracies); the class's encoder is this machine's default
    (``chosen_backend()``), loaded beforehand as a game's is; no embedding is cached between
    rounds. Returns one row per game: every round's seconds, the median ratio, the accuracies
    and the process's peak RSS after the game.
    """
    from pytest_bbi.adversaries import Deadline, encoder, resolve

    texts = corpus()
    today = encoder.open_encoder("torch")
    default = encoder.load_encoder()
    rows = []
    for game, q in games:
        train, trials, truth, distinct = game_pairs(texts, game, q)

        def play(loaded, train=train, trials=trials, truth=truth):
            encoder.load_encoder = lambda: loaded
            spent, accuracy = 0.0, {}
            for adversary in resolve(None):
                began = time.perf_counter()
                probabilities = adversary.decide(train, trials, Deadline(None))
                spent += time.perf_counter() - began
                calls = [(p > 0.5) == first for p, first in zip(probabilities, truth, strict=True)]
                accuracy[adversary.name] = sum(calls) / len(calls)
            return spent, accuracy

        def one_pass(distinct=distinct):
            encoder.load_encoder = lambda: today
            began = time.perf_counter()
            encoder.embed(distinct, Deadline(None))
            return time.perf_counter() - began

        _, today_accuracy = play(today)  # warm-up round: today's class, for its accuracies
        one_pass()
        passes, classes, accuracy = [], [], {}
        for round_ in range(rounds):
            class_first = round_ % 2 == 1  # alternate which of the two meets the machine first
            if class_first:
                seconds, accuracy = play(default)
            passes.append(one_pass())
            if not class_first:
                seconds, accuracy = play(default)
            classes.append(seconds)
        ratios = [c / p for c, p in zip(classes, passes, strict=True)]
        rows.append(
            {
                "game": game,
                "q": q,
                "texts": len(distinct),
                "class_encoder": default.identity,
                "torch_pass_seconds": passes,
                "class_seconds": classes,
                "ratios": ratios,
                "median_ratio": statistics.median(ratios),
                "accuracy": accuracy,
                "today_accuracy": today_accuracy,
                "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                "load_average": os.getloadavg(),
            }
        )
        print(json.dumps(rows[-1]), flush=True)
    return rows


def cold_start(backend):
    """Seconds from spawning a Python process to its first embedding's exit, and its peak RSS."""
    code = (
        "import resource;from pytest_bbi.adversaries.base import Deadline;"
        "from pytest_bbi.adversaries.encoder import embed;embed(['hello'], Deadline(None));"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)"
    )
    began = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "BBI_ENCODER": backend},
        capture_output=True,
        text=True,
        check=True,
    )
    return time.perf_counter() - began, float(done.stdout.split()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", choices=BACKENDS)
    default_out = Path(__file__).with_name("encoder_results.json")
    parser.add_argument("--out", type=Path, default=default_out)
    parser.add_argument(
        "--interleaved",
        type=int,
        metavar="N",
        help="only time passes over N texts, the backends taking turns in one process",
    )
    parser.add_argument(
        "--side-by-side",
        type=int,
        metavar="ROUNDS",
        help="only the default class cold vs one PyTorch pass, taking turns ROUNDS times",
    )
    arguments = parser.parse_args()
    if arguments.side_by_side:
        report = {
            "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.python_version()}",
            "load_average_start": os.getloadavg(),
            "command": " ".join(["bench/encoder.py", *sys.argv[1:]]),
            "games": side_by_side(arguments.side_by_side),
        }
        out = arguments.out.with_name("encoder_side_by_side.json")
        out.write_text(json.dumps(report, indent=2) + "\n")
        print(side_by_side_markdown(report))
        return
    if arguments.interleaved:
        load = os.getloadavg()[0]
        times = interleaved(arguments.interleaved, rounds=2)
        print(f"load average {load:.1f} -> {os.getloadavg()[0]:.1f}; seconds per pass:")
        for backend, runs in times.items():
            ratio = statistics.median(runs) / statistics.median(times["torch"])
            print(f"| {backend} | {' | '.join(f'{r:.1f}' for r in runs)} | {ratio:.2f} |")
        return
    if arguments.worker:
        worker(arguments.worker, arguments.out)
        return
    import numpy as np

    began = time.perf_counter()
    report = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.python_version()}",
        "load_average_start": os.getloadavg(),
        "corpus_texts": len(corpus()),
    }
    for backend in BACKENDS:  # warm: the ONNX exports are made once, outside the timings
        cold_start(backend)
    starts = {backend: [] for backend in BACKENDS}
    for _ in range(3):
        for backend in BACKENDS:
            starts[backend].append(cold_start(backend))
    report["cold_start"] = {
        backend: {
            "median_seconds": statistics.median(seconds for seconds, _ in runs),
            "peak_rss_mib": max(rss for _, rss in runs),
        }
        for backend, runs in starts.items()
    }
    results, embeddings = {}, {}
    with tempfile.TemporaryDirectory(prefix="bbi-bench-encoder-") as scratch:
        for backend in BACKENDS:
            out = Path(scratch) / f"{backend}.json"
            subprocess.run(
                [sys.executable, __file__, "--worker", backend, "--out", str(out)],
                env={**os.environ, "BBI_ENCODER": backend},
                check=True,
            )
            results[backend] = json.loads(out.read_text())
            embeddings[backend] = np.load(out.with_suffix(".npy"))
            print(f"bench: {backend} done ({time.perf_counter() - began:.0f} s)", flush=True)
    reference = embeddings["torch"]
    for backend in BACKENDS[1:]:
        cosines = (embeddings[backend] * reference).sum(axis=1)
        results[backend]["agreement"] = {
            "max_abs_difference": float(np.abs(embeddings[backend] - reference).max()),
            "min_cosine": float(cosines.min()),
            "mean_cosine": float(cosines.mean()),
        }
    report["backends"] = results
    report["load_average_end"] = os.getloadavg()
    report["seconds"] = time.perf_counter() - began
    arguments.out.write_text(json.dumps(report, indent=2) + "\n")
    print(markdown(report))


def markdown(report):
    rows = report["backends"]
    torch = rows["torch"]
    lines = [
        f"Machine: {report['machine']}; load average {report['load_average_start'][0]:.1f} at "
        f"the start, {report['load_average_end'][0]:.1f} at the end; {report['seconds']:.0f} s; "
        f"{report['corpus_texts']} corpus texts.",
        "",
        "| backend | cold start to 1st embedding (s) | its peak RSS (MiB) | load (s) "
        "| 1000 texts (s) | 5000 texts (s) | worker peak RSS (MiB) |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for backend, row in rows.items():
        cold = report["cold_start"][backend]
        lines.append(
            f"| {backend} | {cold['median_seconds']:.2f} | {cold['peak_rss_mib']:.0f} "
            f"| {row['load_seconds']:.2f} | {row['pass_1000_seconds']:.2f} "
            f"| {row['pass_5000_seconds']:.2f} | {row['peak_rss_mib']:.0f} |"
        )
    lines += [
        "",
        "| backend | game | q | texts | embed pass (s) | default class (s) "
        "| class / torch pass | stylometric | embedding | kernel |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for backend, row in rows.items():
        for game, reference in zip(row["games"], torch["games"], strict=True):
            accuracy = game["accuracy"]
            lines.append(
                f"| {backend} | {game['game']} | {game['q']} | {game['texts']} "
                f"| {game['pass_seconds']:.1f} | {game['class_seconds']:.1f} "
                f"| {game['class_seconds'] / reference['pass_seconds']:.2f} "
                f"| {accuracy['stylometric']:.3f} | {accuracy['embedding']:.3f} "
                f"| {accuracy['kernel']:.3f} |"
            )
    lines += [
        "",
        "| backend vs torch (5000 texts) | max abs difference | min cosine | mean cosine |",
        "| --- | ---: | ---: | ---: |",
    ]
    for backend, row in rows.items():
        if "agreement" in row:
            agreement = row["agreement"]
            lines.append(
                f"| {backend} | {agreement['max_abs_difference']:.2e} "
                f"| {agreement['min_cosine']:.6f} | {agreement['mean_cosine']:.6f} |"
            )
    return "\n".join(lines)


def side_by_side_markdown(report):
    lines = [
        f"Machine: {report['machine']}; load average {report['load_average_start'][0]:.1f} at "
        "the start.",
        "",
        "| game | q | texts | PyTorch pass (s) | default class, cold (s) | class / pass, median "
        "| held-out accuracy, default class (today's) | peak RSS (MiB) |",
        "| --- | ---: | ---: | --- | --- | ---: | --- | ---: |",
    ]
    for row in report["games"]:
        accuracy = ", ".join(
            f"{name} {value:.3f} ({row['today_accuracy'][name]:.3f})"
            for name, value in row["accuracy"].items()
        )
        lines.append(
            f"| {row['game']} | {row['q']} | {row['texts']} "
            f"| {', '.join(f'{s:.1f}' for s in row['torch_pass_seconds'])} "
            f"| {', '.join(f'{s:.1f}' for s in row['class_seconds'])} "
            f"| {row['median_ratio']:.2f} | {accuracy} | {row['peak_rss_mib']:.0f} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
