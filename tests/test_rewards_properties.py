"""Property tests: linear-time parsers equal the reference regexes; any input gives a bounded float."""

from __future__ import annotations

import math
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from verl_videorft.prompts import PROBLEM_TYPES
from verl_videorft.rewards import accuracy_reward, compute_score, extract_answer, format_reward
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
def test_any_input_gives_bounded_accuracy(completion, solution, problem_type):
    acc = accuracy_reward(completion, solution, problem_type)
    assert isinstance(acc, float) and math.isfinite(acc) and 0.0 <= acc <= 1.0


@settings(max_examples=300, deadline=None)
@given(anything)
def test_any_input_gives_a_zero_or_one_format(completion):
    assert format_reward(completion) in (0.0, 1.0)


@settings(max_examples=300, deadline=None)
@given(anything, anything, st.sampled_from(PROBLEM_TYPES + ("bogus", "OCR ", "")))
def test_compute_score_is_accuracy_plus_format(completion, solution, problem_type):
    out = compute_score("src", completion, solution, {"problem_type": problem_type})
    assert out["score"] == out["acc"] + out["format"]


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200), st.sampled_from(PROBLEM_TYPES),
       st.sampled_from([lambda raw: raw.decode("latin-1"), lambda raw: raw.decode("utf-8", errors="replace")]))
def test_binary_junk_decoded_any_way(raw, problem_type, decode):
    text = decode(raw)
    wrapped = f"<think>{text}</think><answer>{text}</answer>"
    assert 0.0 <= accuracy_reward(wrapped, f"<answer>{text}</answer>", problem_type) <= 1.0


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200).map(lambda raw: raw.decode("utf-8", errors="replace")))
def test_think_text_is_total_and_never_longer_than_the_body(text):
    thought = think_text(f"<think>{text}</think><answer>{text}</answer>")
    assert isinstance(thought, str) and len(thought) <= len(text)


@pytest.mark.parametrize("problem_type", ["numerical", "regression"])
@settings(max_examples=300, deadline=None)
@given(out=st.floats(allow_nan=True, allow_infinity=True), gt=st.floats(allow_nan=False, allow_infinity=False))
def test_non_finite_never_rewarded_against_finite_truth(problem_type, out, gt):
    value = accuracy_reward(f"<answer>{out!r}</answer>", f"<answer>{gt!r}</answer>", problem_type)
    assert 0.0 <= value <= 1.0 and (math.isfinite(out) or value == 0.0)


MB = 1 << 20
# 1 MB completions (nested/unbalanced tags, whitespace runs) and their format reward.
MEGABYTE_CASES = [
    ("<think>" * (MB // 7), 0.0),
    ("<think>" + "</think>" + " " * MB + "<answer>x", 0.0),
    ("<think>" + "</think> " * (MB // 9) + "<answer>B</answer>", 1.0),
    ("<answer>" + "x " * (MB // 2) + "</answer>", 0.0),
    ("<think>" + "a." * (MB // 2) + "</think><answer>" + "1" * 1000 + "</answer>", 1.0),
    ("<think>" + "</think><answer>" * (MB // 16) + "x", 0.0),          # quadratic for the reference regex
    ("<think>" + "</think><answer>" * (MB // 16) + "</answer>", 1.0),  # (~16 min at 1 MB); linear here
]


@pytest.mark.parametrize("text, expected", MEGABYTE_CASES, ids=range(len(MEGABYTE_CASES)))
def test_megabyte_format(text, expected):
    assert format_reward(text) == expected


@pytest.mark.parametrize("problem_type", PROBLEM_TYPES)
@pytest.mark.parametrize("text", [t for t, _ in MEGABYTE_CASES], ids=range(len(MEGABYTE_CASES)))
def test_megabyte_accuracy_is_total(text, problem_type):
    assert 0.0 <= accuracy_reward(text, "<answer>B is a cat</answer>", problem_type) <= 1.0


@pytest.mark.parametrize("problem_type", PROBLEM_TYPES)
def test_megabyte_answer_against_megabyte_truth(problem_type):
    """Both sides 1 MB (the text scorers' cost is the product of the two lengths): still a float."""
    big = "<answer>" + "word " * (MB // 5) + "</answer>"
    assert 0.0 <= accuracy_reward(big, big, problem_type) <= 1.0


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
