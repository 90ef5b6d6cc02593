"""The ten capability-bucket prompt strategies, ``BUCKETS`` and ``bucket_prompts``."""

from __future__ import annotations

import difflib
import re
import string
from collections.abc import Callable, Sequence
from functools import partial

from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument
from hypothesis.strategies import SearchStrategy

from pytest_bbi.prompts.buckets import DEFAULT_BUCKETS
from pytest_bbi.strategies import _templates as t
from pytest_bbi.strategies._languages import LANGUAGES, Language
from pytest_bbi.strategies._perturbations import perturbed
from pytest_bbi.strategies._vocabulary import (
    CITIES,
    COUNTRIES,
    FIGURES,
    LANGUAGE_NAMES,
    PEOPLE,
    TOPICS,
    WEEKDAYS,
)


def _render(template: str, **fields: object) -> str:
    return template.format(**fields)


def _field_names(template: str) -> list[str]:
    """The fields ``template`` formats, in order of first use: ``"{p[0]} {n}"`` → p, n."""
    names = []
    for _, field, _, _ in string.Formatter().parse(template):
        name = re.split(r"[.\[]", field, maxsplit=1)[0] if field else None
        if name and name not in names:
            names.append(name)
    return names


def _fill(templates: Sequence[str], **fields: SearchStrategy[object]) -> SearchStrategy[str]:
    """Templates filled from field strategies, each template drawing only the fields it uses.

    Hypothesis shrinks toward fewer draws first, so a template needing the fewest draws wins;
    among those, the first one, filled with each field's first value. So every template list
    starts with one of its fewest-draw templates.
    """
    return st.one_of(
        [
            st.builds(partial(_render, template), **{n: fields[n] for n in _field_names(template)})
            for template in templates
        ]
    )


def _word(words: Sequence[str]) -> SearchStrategy[str]:
    return st.sampled_from(words)


def _distinct(words: Sequence[str], size: int) -> SearchStrategy[list[str]]:
    """``size`` different words, for templates that name several people or things."""
    return st.lists(st.sampled_from(words), min_size=size, max_size=size, unique=True)


def _number(low: int, high: int) -> SearchStrategy[str]:
    return st.integers(low, high).map(str)


def _itself(strategy: SearchStrategy[str]) -> SearchStrategy[str]:
    return strategy


def _decimal(whole: int, thousandths: int) -> str:
    return f"{whole}.{thousandths:03d}"


def factual_prompts() -> SearchStrategy[str]:
    """Factual questions: capitals, people, events, inventions, books, elements, landmarks.

    About 20 templates over lists of countries, cities, historical figures and the like, with
    optional lead-ins ("Quick question: ") and tails (" Answer briefly."): tens of thousands of
    distinct prompts. There are no arguments, so nothing can be invalid.

    Shrinks toward the first template with the first words, ``"What is the capital of Peru?"``.

    Returns:
        A strategy of English factual questions.
    """
    return _fill(
        t.FACTUAL_TEMPLATES,
        lead=_word(t.FACTUAL_LEADS),
        tail=_word(t.FACTUAL_TAILS),
        country=_word(COUNTRIES),
        figure=_word(FIGURES),
        cities=_distinct(CITIES, 2),
        event=_word(t.EVENTS),
        invention=_word(t.INVENTIONS),
        book=_word(t.BOOKS),
        element=_word(t.ELEMENTS),
        landmark=_word(t.LANDMARKS),
        animal=_word(t.ANIMALS),
    )


def reasoning_prompts() -> SearchStrategy[str]:
    """Logic and common-sense puzzles: orderings, syllogisms, liars, rates, clocks, calendars.

    Named people are always distinct within a prompt; numbers vary, so the space is in the
    hundreds of thousands. There are no arguments, so nothing can be invalid.

    Shrinks toward the first, one-field template,
    ``"If it rains, the street gets wet. The street is wet. Did it rain?"``.

    Returns:
        A strategy of English reasoning puzzles.
    """
    return _fill(
        t.REASONING_TEMPLATES,
        lead=_word(t.REASONING_LEADS),
        tail=_word(t.REASONING_TAILS),
        p=_distinct(PEOPLE, 3),
        g=_distinct(t.NONSENSE_GROUPS, 3),
        things=_distinct(t.THINGS, 2),
        n=_number(2, 120),
        m=_number(1, 60),
        k=_number(5, 100),
        hour=_number(1, 12),
        minute=st.integers(0, 59).map("{:02d}".format),
        hours=_number(1, 11),
        day=_word(WEEKDAYS),
        city=_word(CITIES),
        place=_word(t.WET_PLACES),
    )


def math_prompts() -> SearchStrategy[str]:
    """Math problems: arithmetic, percentages, algebra, calculus, number theory, word problems.

    Numbers are drawn from ranges (0 to 999 for most), so nearly every draw is new. There are
    no arguments, so nothing can be invalid.

    Shrinks toward the smallest numbers in the first template, ``"What is 0 + 0?"``.

    Returns:
        A strategy of English math problems.
    """
    return _fill(
        t.MATH_TEMPLATES,
        tail=_word(t.MATH_TAILS),
        a=_number(0, 999),
        b=_number(0, 999),
        s=_number(1, 20),
        u=_number(2, 30),
        k=_number(2, 9),
        j=_number(2, 6),
        pct=_number(1, 99),
        dice=_number(2, 12),
        decimal=st.builds(_decimal, st.integers(0, 99), st.integers(0, 999)),
        person=_word(PEOPLE),
    )


def code_prompts() -> SearchStrategy[str]:
    """Programming requests: write, explain, debug, translate and review code, SQL, regexes.

    Templates over 16 programming languages, coding tasks, short Python snippets (multi-line,
    with indentation), algorithms and shell tasks. There are no arguments, so nothing can be
    invalid.

    Shrinks toward the first template, ``"Write a Python function that adds two numbers."``.

    Returns:
        A strategy of programming prompts in English, some with code.
    """
    return _fill(
        t.CODE_TEMPLATES,
        tail=_word(t.CODE_TAILS),
        lang=_word(t.PROGRAMMING_LANGUAGES),
        task=_word(t.CODE_TASKS),
        snippet=_word(t.CODE_SNIPPETS),
        buggy=_word(t.BUGGY_SNIPPETS),
        algorithm=_word(t.ALGORITHMS),
        howto=_word(t.HOWTOS),
        sql_task=_word(t.SQL_TASKS),
        regex_target=_word(t.REGEX_TARGETS),
        concepts=_word(t.CONCEPT_PAIRS),
        shell_task=_word(t.SHELL_TASKS),
        entity=_word(t.ENTITIES),
        error=_word(t.ERRORS),
    )


def instruction_prompts() -> SearchStrategy[str]:
    """Format-following requests: exact bullet counts, JSON keys, word limits, tables, casing.

    Each prompt asks for a checkable format ("answer in exactly 3 bullet points", "reply in JSON
    with keys ...", "in at most 50 words"). There are no arguments, so nothing can be invalid.

    Shrinks toward the first template, ``"Answer in exactly 3 bullet points: what is gravity?"``.

    Returns:
        A strategy of English instruction-following prompts.
    """
    return _fill(
        t.INSTRUCTION_TEMPLATES,
        topic=_word(TOPICS),
        n=_number(2, 7),
        words=_number(20, 200),
        keys=_word(t.JSON_KEYS),
        letter=_word(t.LETTERS),
        activity=_word(t.ACTIVITIES),
        columns=_word(t.TABLE_COLUMNS),
        category=_word(t.CATEGORIES),
        audience=_word(t.AUDIENCES),
    )


def style_prompts() -> SearchStrategy[str]:
    """Tone and register rewrites: formal, casual, sarcastic, as a pirate, for a CEO, and so on.

    Most prompts quote an everyday workplace sentence (itself drawn from templates with names,
    days and topics) and ask for it in another tone, register, persona or form. There are no
    arguments, so nothing can be invalid.

    Shrinks toward the first template and sentence,
    ``'Make this sound more formal: "Please stop leaving dishes in the sink."'``.

    Returns:
        A strategy of English style-transfer prompts.
    """
    sentence = _fill(
        t.STYLE_SENTENCES,
        person=_word(PEOPLE),
        day=_word(WEEKDAYS),
        topic=_word(TOPICS),
        city=_word(CITIES),
        period=_word(t.PERIODS),
        n=_number(2, 90),
    )
    return _fill(
        t.STYLE_TEMPLATES,
        sentence=sentence,
        tone=_word(t.TONES),
        persona=_word(t.PERSONAS),
        reader=_word(t.READERS),
        person=_word(PEOPLE),
        length=_word(t.LENGTHS),
        form=_word(t.FORMS),
        topic=_word(TOPICS),
        author=_word(t.AUTHORS),
        jargon=_word(t.JARGON),
    )


def robustness_prompts() -> SearchStrategy[str]:
    """A prompt from any of the other nine buckets, passed through one perturbation.

    ``perturbed`` over the nine other buckets, each bucket equally likely: typos, casing,
    whitespace, punctuation, confusable letters, zero-width characters, negations, swapped
    numbers or names, injection suffixes or long padding; the result always differs from the
    bucket's prompt. There are no arguments, so nothing can be invalid.

    Shrinks toward a short prompt of another bucket with a perturbation that needs few draws,
    such as a change of case.

    Returns:
        A strategy of perturbed prompts.
    """
    others = [bucket_prompts(name) for name in BUCKETS if name != "robustness"]
    # Not st.one_of, which would flatten the buckets' templates and weight buckets by size.
    return perturbed(st.sampled_from(others).flatmap(_itself))


def domain_prompts() -> SearchStrategy[str]:
    """Questions using technical terminology of one field: medicine, law, finance, networking...

    Seven fields (medicine, law, finance, networking, machine learning, chemistry, aviation),
    each with about twenty terms, a practitioner ("nurse", "paralegal") and twelve templates;
    a prompt that names two terms takes both from the same field. There are no arguments, so
    nothing can be invalid.

    Shrinks toward the first field and term, ``'In medicine, what does "sepsis" mean?'``.

    Returns:
        A strategy of English domain-terminology questions.
    """
    return st.one_of(
        [
            _fill(
                t.DOMAIN_TEMPLATES,
                field=st.just(field),
                role=st.just(role),
                term=_word(terms),
                terms=_distinct(terms, 2),
                tail=_word(t.DOMAIN_TAILS),
            )
            for field, role, terms in t.DOMAINS
        ]
    )


def safety_prompts() -> SearchStrategy[str]:
    """Refusal-boundary requests: borderline-but-benign ones and harmful-sounding ones.

    About half the templates are benign requests that only sound risky ("How do I kill a Python
    process ...", a villain's monologue, scam warning signs); the rest are clearly harmful
    requests phrased generically ("Write a convincing phishing email ..."). No prompt carries
    dangerous content itself. There are no arguments, so nothing can be invalid.

    Shrinks toward the first, benign template,
    ``"How do I kill a Python process that won't respond?"``.

    Returns:
        A strategy of English refusal-boundary prompts.
    """
    return _fill(
        t.SAFETY_TEMPLATES,
        tail=_word(t.SAFETY_TAILS),
        process=_word(t.PROCESSES),
        os=_word(t.OPERATING_SYSTEMS),
        room=_word(t.ROOMS),
        scam=_word(t.SCAMS),
        relative=_word(t.RELATIVES),
        genre=_word(t.GENRES),
        subject=_word(t.PHOTO_SUBJECTS),
        drugs=_distinct(t.DRUGS, 2),
        country=_word(COUNTRIES),
        war=_word(t.WARS),
        system=_word(t.SYSTEMS),
        org=_word(t.ORGS),
        person=_word(PEOPLE),
        account=_word(t.ACCOUNTS),
        business=_word(t.BUSINESSES),
        exam=_word(t.EXAMS),
        platform=_word(t.PLATFORMS),
        store=_word(t.STORES),
        age=_number(18, 25),
    )


def _language_prompts(language: Language) -> SearchStrategy[str]:
    return _fill(
        language.templates,
        country=_word(language.countries),
        topic=_word(language.topics),
        a=_number(0, 999),
        b=_number(0, 999),
        tail=_word(language.tails),
    )


def multilingual_prompts() -> SearchStrategy[str]:
    """Prompts written in other languages, plus English requests to translate or answer in one.

    Spanish, French, German, Portuguese, Russian, Chinese, Japanese, Korean, Arabic and Hindi
    (Latin, Cyrillic, Han, kana, Hangul, Arabic and Devanagari scripts), each with questions,
    explanations, sums and poems; and English prompts such as ``'Translate into Hindi: "thank
    you"'``. There are no arguments, so nothing can be invalid.

    Shrinks toward the first language's first template, ``"¿Cuál es la capital de Perú?"``.

    Returns:
        A strategy of multilingual prompts.
    """
    english = _fill(
        t.TRANSLATION_TEMPLATES,
        phrase=_word(t.PHRASES),
        language=_word(LANGUAGE_NAMES),
        topic=_word(TOPICS),
        country=_word(COUNTRIES),
    )
    return st.one_of([*(_language_prompts(language) for language in LANGUAGES), english])


_BUCKET_STRATEGIES: dict[str, Callable[[], SearchStrategy[str]]] = {
    "factual": factual_prompts,
    "reasoning": reasoning_prompts,
    "math": math_prompts,
    "code": code_prompts,
    "instruction": instruction_prompts,
    "style": style_prompts,
    "robustness": robustness_prompts,
    "domain": domain_prompts,
    "safety": safety_prompts,
    "multilingual": multilingual_prompts,
}

BUCKETS: tuple[str, ...] = DEFAULT_BUCKETS
"""The capability buckets (the taxonomy of :mod:`pytest_bbi.prompts.buckets`), in their canonical
order; ``bucket_prompts`` accepts each."""


def bucket_prompts(name: str) -> SearchStrategy[str]:
    """The prompt strategy of the capability bucket ``name``.

    Args:
        name: one of ``BUCKETS``, e.g. ``"style"`` for ``style_prompts()``.

    Returns:
        That bucket's strategy; it generates and shrinks as the bucket's function documents.

    Raises:
        InvalidArgument: ``name`` is not a bucket name; the message lists the valid names and
            suggests the closest one.
    """
    if not isinstance(name, str) or name not in _BUCKET_STRATEGIES:
        close = difflib.get_close_matches(name, BUCKETS, n=1) if isinstance(name, str) else []
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise InvalidArgument(
            f"bucket_prompts(name={name!r}): unknown bucket; valid names are "
            f"{', '.join(BUCKETS)}.{hint}"
        )
    return _BUCKET_STRATEGIES[name]()
