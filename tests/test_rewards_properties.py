"""Property tests: linear-time parsers equal the reference regexes; any input gives a bounded float."""

from __future__ import annotations

import math
import re

from hypothesis import given, settings
from hypothesis import strategies as st

from verl_videorft.rewards import PROBLEM_TYPES, accuracy_reward, compute_score, extract_answer, format_reward
from verl_videorft.rewards.semantic import think_text

REF_FORMAT = re.compile(r"<think>.*?</think>\s*<answer>.*?</answer>", re.DOTALL)
REF_ANSWER = re.compile(r"<answer>\s*(.*?)\s*</answer>", re.DOTALL)

# Text built from tag fragments, whitespace (unicode included) and letters hits the edge cases
# (nested, unbalanced, partial tags) far more often than uniform random text.
PIECES = ["<think>", "</think>", "<answer>", "</answer>", "<", ">", "/", "think", "answer",
          " ", "\n", "\t", "\u00a0", "\u2003", "a", "B", ".", ",", "5", "<ANSWER>", "</Think>"]
tagged = st.lists(st.sampled_from(PIECES), max_size=14).map("".join)
anything = st.one_of(tagged, st.text(max_size=60))


def ref_extract(text: str) -> str:
    m = REF_ANSWER.search(text)
    return m.group(1).strip() if m else ""


@settings(max_examples=1500, deadline=None)
@given(tagged)
def test_format_equals_reference_regex(text):
    assert format_reward(text) == (1.0 if REF_FORMAT.fullmatch(text) else 0.0)


@settings(max_examples=800, deadline=None)
@given(anything)
def test_extract_equals_reference_regex(text):
    assert extract_answer(text) == ref_extract(text)


@settings(max_examples=300, deadline=None)
@given(anything, anything, st.sampled_from(PROBLEM_TYPES + ("bogus", "OCR ", "")))
def test_any_input_gives_bounded_float(completion, solution, problem_type):
    acc = accuracy_reward(completion, solution, problem_type)
    fmt = format_reward(completion)
    for value in (acc, fmt):
        assert isinstance(value, float) and math.isfinite(value) and 0.0 <= value <= 1.0
    out = compute_score("src", completion, solution, {"problem_type": problem_type})
    assert out["score"] == out["acc"] + out["format"]


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200), st.sampled_from(PROBLEM_TYPES))
def test_binary_junk_decoded_any_way(raw, problem_type):
    for text in (raw.decode("latin-1"), raw.decode("utf-8", errors="replace")):
        wrapped = f"<think>{text}</think><answer>{text}</answer>"
        value = accuracy_reward(wrapped, f"<answer>{text}</answer>", problem_type)
        assert 0.0 <= value <= 1.0
        thought = think_text(wrapped)  # total: never raises, never longer than the think body
        assert isinstance(thought, str) and len(thought) <= len(text)


@settings(max_examples=300, deadline=None)
@given(st.floats(allow_nan=True, allow_infinity=True), st.floats(allow_nan=False, allow_infinity=False))
def test_non_finite_never_rewarded_against_finite_truth(out, gt):
    for problem_type in ("numerical", "regression"):
        value = accuracy_reward(f"<answer>{out!r}</answer>", f"<answer>{gt!r}</answer>", problem_type)
        assert 0.0 <= value <= 1.0
        if not math.isfinite(out):
            assert value == 0.0


def test_adversarial_megabyte_inputs_are_total():
    """1 MB completions (nested/unbalanced tags, whitespace runs) still give floats in range."""
    mb = 1 << 20
    cases = [
        "<think>" * (mb // 7),
        "<think>" + "</think>" + " " * mb + "<answer>x",
        "<think>" + "</think> " * (mb // 9) + "<answer>B</answer>",
        "<answer>" + "x " * (mb // 2) + "</answer>",
        "<think>" + "a." * (mb // 2) + "</think><answer>" + "1" * 1000 + "</answer>",
        # quadratic for the reference regex (~16 min at 1 MB); linear here
        "<think>" + "</think><answer>" * (mb // 16) + "x",
        "<think>" + "</think><answer>" * (mb // 16) + "</answer>",
    ]
    for text in cases:
        assert format_reward(text) in (0.0, 1.0)
        for problem_type in PROBLEM_TYPES:
            assert 0.0 <= accuracy_reward(text, "<answer>B is a cat</answer>", problem_type) <= 1.0
    assert format_reward(cases[2]) == 1.0
    assert (format_reward(cases[-2]), format_reward(cases[-1])) == (0.0, 1.0)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(["running", "runs", "cats", "the", "a", "Door", "doors", "opened",
                                 "opening", "x1", "über", ",", "!"]), max_size=12).map(" ".join),
       st.lists(st.sampled_from(["run", "cat", "the", "door", "open", "dog", "über"]),
                max_size=8).map(" ".join))
def test_rouge_matches_plain_rouge_score(hypothesis_text, reference):
    """Our memoised-stemmer scorer gives exactly rouge-score's RougeScorer(use_stemmer=True) mean."""
    from rouge_score import rouge_scorer

    plain = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=True)
    s = plain.score(reference, hypothesis_text)
    expected = max(0.0, min(1.0, (s["rouge1"].fmeasure + s["rouge2"].fmeasure + s["rougeL"].fmeasure) / 3))
    got = accuracy_reward(f"<answer>{hypothesis_text}</answer>", f"<answer>{reference}</answer>", "free-form")
    assert got == expected
