"""Any Python str reaches every adversary safely: lone surrogates and other odd text included."""

import random

import pytest
from servers.fake_openai import FakeOpenAIServer, fake_completion
from synthetic_pairs import accuracy, completion

import pytest_bbi as bbi
from pytest_bbi.adversaries import Deadline, LabeledPair, Trial, resolve
from pytest_bbi.adversaries.finetuned import FinetunedAdversary
from pytest_bbi.adversaries.judge import JudgeAdversary
from pytest_bbi.adversaries.kernel import _code_points
from pytest_bbi.models import from_callable
from pytest_bbi.text import encodable, is_unicode

ODD = [
    "lone \udce9 surrogate",
    "\ud800",
    "a pair as two code points \ud83d\ude00",
    "nul \x00 and \ufffe and \U0010ffff",
    "right-to-left \u202eevil\u202c and zero\u200bwidth",
    "",
    "   ",
]


def odd_game(seed=0, n=40):
    """Pairs whose student appends a lone surrogate, teacher text itself full of odd text."""
    rng = random.Random(seed)

    def pair():
        base = completion(rng, tic=False)
        return f"{base} {rng.choice(ODD)}", f"{base} {rng.choice(ODD)} \udcff"

    train = [LabeledPair(rng.choice(ODD), *pair()) for _ in range(n)]
    trials, teacher_first = [], []
    for _ in range(n):
        teacher, student = pair()
        first = rng.random() < 0.5
        teacher_first.append(first)
        prompt = rng.choice(ODD)
        trials.append(Trial(prompt, teacher, student) if first else Trial(prompt, student, teacher))
    return train, trials, teacher_first


def strict_unicode_judge(prompts, seeds):
    """A judge that, like a tokenizer, reads only valid Unicode; it names the side without
    the escaped tic."""
    answers = []
    for prompt in prompts:
        prompt.encode("utf-8")  # raises UnicodeEncodeError on a surrogate
        block = prompt.rsplit("Prompt:", 1)[-1]
        a, _, b = block.partition("Response B:")
        answers.append("B" if "\\udcff" in a else "A" if "\\udcff" in b else "unsure")
    return answers


class AnyTextScorer:
    """A scripted white-box model that scores any str (lower for the surrogate tic)."""

    def __init__(self, name, tic_score):
        self.name = name
        self.identity = name
        self.tic_score = tic_score

    def generate(self, prompts, seeds):
        return ["" for _ in prompts]

    def score(self, prompts, completions):
        return [self.tic_score if "\udcff" in text else -1.0 for text in completions]


def adversaries():
    judge = JudgeAdversary(from_callable(strict_unicode_judge, name="judge", batched=True))
    likelihood = resolve(["likelihood"])[0]
    likelihood.bind(AnyTextScorer("teacher", -9.0), AnyTextScorer("student", -0.5), 0)
    return [
        *resolve(["stylometric", "kernel", "embedding"]),
        FinetunedAdversary(epochs=1),
        judge,
        likelihood,
    ]


@pytest.mark.parametrize("adversary", adversaries(), ids=lambda adversary: adversary.name)
def test_every_adversary_plays_on_text_that_is_not_unicode(adversary):
    train, trials, teacher_first = odd_game()
    probabilities = adversary.decide(train, trials, Deadline(None))
    assert len(probabilities) == len(trials)
    assert all(0.0 <= p <= 1.0 for p in probabilities)
    if adversary.name not in ("finetuned", "kernel"):  # weak on 40 pairs; they must not crash
        # The surrogate tic still tells the models apart: escaping kept the information.
        assert accuracy(probabilities, teacher_first) >= 0.75, adversary.name


def test_the_kernel_reads_a_surrogate_as_its_code_point():
    assert _code_points(["\ud800a"], 3).tolist() == [[0xD800 + 1, ord("a") + 1, 0]]


def test_encodable_keeps_valid_text_and_escapes_each_surrogate_distinctly():
    for text in ODD:
        assert is_unicode(encodable(text))
        assert encodable(text) == text or not is_unicode(text)
    assert encodable("\ud800") != encodable("\udfff")
    assert encodable("caf\udce9") == "caf\\udce9"


def test_a_game_with_text_that_is_not_unicode_reports_a_verdict():
    def teacher_fn(prompt, seed):
        return f"answer {seed % 3} \udce9"

    def student_fn(prompt, seed):
        return f"answer {seed % 3} \ud800 tic"

    teacher = from_callable(teacher_fn, name="teacher")
    student = from_callable(student_fn, name="student")
    prompts = [f"prompt {index} \udcff" for index in range(20)]
    budget = bbi.Budget(queries=40, adversaries=["stylometric", "kernel"])
    with pytest.raises(bbi.Distinguishable, match="stylometric") as failure:
        bbi.assert_indistinguishable(teacher, student, prompts, budget=budget, epsilon=0.1)
    assert set(failure.value.verdict.adversaries) == {"stylometric", "kernel"}
    assert is_unicode(str(failure.value))  # a terminal, a log file and xdist can carry it


def test_a_fingerprint_of_a_model_whose_name_is_not_unicode_can_be_saved():
    model = from_callable(lambda prompt, seed: f"answer {seed % 3}", name="teacher \udcff")
    prompts = [f"prompt {index}" for index in range(20)]
    budget = bbi.Budget(queries=20, adversaries=["stylometric"])
    document = bbi.fingerprint(model, prompts, budget=budget, embeddings=False).to_json()
    document.encode("utf-8")  # a snapshot file is UTF-8
    assert bbi.Fingerprint.from_json(document).metadata["model"] == "teacher \udcff"


@pytest.mark.parametrize("chat", [False, True], ids=["completions", "chat"])
def test_the_openai_backend_sends_a_prompt_that_is_not_unicode_escaped(chat):
    from pytest_bbi.models.openai_api import load_openai

    with FakeOpenAIServer() as server:
        model = load_openai(f"m@{server.base_url}", max_retries=0, timeout=10, chat=chat)
        completions = model.generate(["caf\udce9", "café"], [1, 1])
    # The UTF-8 body carries each surrogate as its escape; valid text goes as it is.
    assert set(server.requests) == {"caf\\udce9", "café"}
    assert completions == [fake_completion("m", "caf\\udce9", 1), fake_completion("m", "café", 1)]
