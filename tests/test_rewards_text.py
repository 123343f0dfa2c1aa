"""Format and accuracy rewards: the reference behaviour, quirks included, as one-line cases."""

from __future__ import annotations

import math
import re

import pytest

from verl_videorft.rewards import AccuracyOptions, accuracy_reward, extract_answer, format_reward

T = "<think>reasoning</think>"


def ans(x: str) -> str:
    return f"{T}<answer>{x}</answer>"


FORMAT_CASES = [
    ("<think>a</think><answer>b</answer>", 1.0),
    ("<think>a</think>\n \t<answer>b</answer>", 1.0),
    ("<think></think><answer></answer>", 1.0),
    ("<think>x</think>y<answer>b</answer>", 0.0),           # text between the blocks
    (" <think>a</think><answer>b</answer>", 0.0),           # leading space
    ("<think>a</think><answer>b</answer>\n", 0.0),          # trailing newline
    ("<THINK>a</THINK><answer>b</answer>", 0.0),            # tags are case-sensitive
    ("<think>a<answer>b</answer>", 0.0),                    # no </think>
    ("<think>a</think>", 0.0),
    ("<think>a</think><answer>b</answer><answer>c</answer>", 1.0),  # .*? may span tags
    ("<think><think>a</think></think><answer>b</answer>", 1.0),     # nested: .*? spans it
    ("<think>a</think></think> <answer>b</answer>", 1.0),
    ("<think></answer></think><answer></answer>", 1.0),
    ("", 0.0),
]


@pytest.mark.parametrize("completion, expected", FORMAT_CASES)
def test_format_reward(completion, expected):
    assert format_reward(completion) == expected


ACCURACY_CASES = [
    # multiple choice: exact, case-sensitive string equality after strip
    (ans("B"), "<answer>B</answer>", "multiple choice", 1.0),
    (ans(" B \n"), "<answer>B</answer>", "multiple choice", 1.0),
    (ans("b"), "<answer>B</answer>", "multiple choice", 0.0),
    (ans("B."), "<answer>B</answer>", "multiple choice", 0.0),
    (ans("(B)"), "<answer>B</answer>", "multiple choice", 0.0),
    ("<think><answer>A</answer></think><answer>B</answer>", "<answer>A</answer>", "multiple choice", 1.0),
    (ans("B"), "B", "multiple choice", 0.0),                          # untagged solution → ""
    ("B", "B", "multiple choice", 1.0),                               # "" == ""
    # numerical: '.' or ',' on exactly one side scores 0; round(x, 2)
    (ans("42"), "<answer>42</answer>", "numerical", 1.0),
    (ans("5"), "<answer>5.0</answer>", "numerical", 0.0),
    (ans("1,000"), "<answer>1000</answer>", "numerical", 0.0),
    (ans("1,000"), "<answer>1000.0</answer>", "numerical", 1.0),
    (ans("3.141"), "<answer>3.14</answer>", "numerical", 1.0),
    (ans("3.1"), "<answer>3.14</answer>", "numerical", 0.0),
    (ans("3,5"), "<answer>3.5</answer>", "numerical", 0.0),            # comma removed → 35
    (ans("abc"), "<answer>4</answer>", "numerical", 0.0),
    (ans("nan"), "<answer>4</answer>", "numerical", 0.0),
    (ans("inf"), "<answer>4</answer>", "numerical", 0.0),
    # OCR: 1 - WER on raw whitespace words
    (ans("hello world"), "<answer>hello world</answer>", "OCR", 1.0),
    (ans("hello there"), "<answer>hello world</answer>", "OCR", 0.5),
    (ans("Hello world"), "<answer>hello world</answer>", "OCR", 0.5),
    (ans("hello world!"), "<answer>hello world</answer>", "OCR", 0.5),
    (ans("a b c d e"), "<answer>x</answer>", "OCR", 0.0),
    (ans(""), "<answer></answer>", "OCR", 1.0),
    # free-form: mean of ROUGE-1/2/L F with stemming
    (ans("the cats are running"), "<answer>the cat is running</answer>", "free-form",
     pytest.approx((0.75 + 1 / 3 + 0.75) / 3)),  # tokens the/cat/are/run vs the/cat/is/run
    (ans("completely different"), "<answer>the cat is running</answer>", "free-form", 0.0),
    # regression: 1 - min(1, (|o-g|+1e-9)/(|g|+1e-9))
    (ans("10"), "<answer>10</answer>", "regression", pytest.approx(1 - 1e-10, abs=1e-12)),
    (ans("9"), "<answer>10</answer>", "regression", pytest.approx(0.9)),
    (ans("5.0"), "<answer>10</answer>", "regression", pytest.approx(0.5)),
    (ans("1,000"), "<answer>1000</answer>", "regression", pytest.approx(1.0)),
    (ans("0"), "<answer>0</answer>", "regression", 0.0),              # zero ground truth: always 0
    (ans("nan"), "<answer>10</answer>", "regression", 0.0),           # reference: 1.0 (reward hack)
    (ans("inf"), "<answer>10</answer>", "regression", 0.0),
    (ans("-inf"), "<answer>10</answer>", "regression", 0.0),
    (ans("30"), "<answer>10</answer>", "regression", 0.0),
    # unknown / misspelt types
    (ans("B"), "<answer>B</answer>", "Multiple Choice", 0.0),
    (ans("B"), "<answer>B</answer>", "multiple choice ", 0.0),
    (ans("B"), "<answer>B</answer>", "yes/no", 0.0),
]


@pytest.mark.parametrize("completion, solution, problem_type, expected", ACCURACY_CASES)
def test_accuracy_reward(completion, solution, problem_type, expected):
    assert accuracy_reward(completion, solution, problem_type) == expected


FIX_CASES = [
    (ans("b"), "<answer>B</answer>", "multiple choice", dict(lenient_choice=True), 1.0),
    (ans("(B)"), "<answer>B</answer>", "multiple choice", dict(lenient_choice=True), 1.0),
    (ans("B. a dog"), "<answer>B</answer>", "multiple choice", dict(lenient_choice=True), 1.0),
    (ans("C"), "<answer>B</answer>", "multiple choice", dict(lenient_choice=True), 0.0),
    (ans("5"), "<answer>5.0</answer>", "numerical", dict(value_numerical=True), 1.0),
    (ans("1,000"), "<answer>1000</answer>", "numerical", dict(value_numerical=True), 1.0),
    (ans("0"), "<answer>0</answer>", "regression", dict(regression_zero_fix=True), 1.0),
    (ans("1"), "<answer>0</answer>", "regression", dict(regression_zero_fix=True), 0.0),
    (ans("10"), "<answer>10</answer>", "regression", dict(regression_zero_fix=True), 1.0),
    (ans("Hello, world"), "<answer>hello world</answer>", "OCR", dict(normalize_ocr=True), 1.0),
    (ans("x " * 20), "<answer>x</answer>", "free-form", dict(max_text_answer_chars=10), 0.0),
]


@pytest.mark.parametrize("completion, solution, problem_type, fixes, expected", FIX_CASES)
def test_documented_fixes(completion, solution, problem_type, fixes, expected):
    assert accuracy_reward(completion, solution, problem_type,
                           options=AccuracyOptions(**fixes)) == expected


def test_extract_answer_first_match_and_strip():
    assert extract_answer("x <answer>\n A \n</answer> <answer>B</answer>") == "A"
    assert extract_answer("<answer>A") == ""
    assert extract_answer("</answer><answer>C</answer>") == "C"


def test_non_string_inputs_score_zero():
    assert format_reward(None) == 0.0  # type: ignore[arg-type]
    assert accuracy_reward(b"<answer>A</answer>", "<answer>A</answer>", "multiple choice") == 0.0  # type: ignore[arg-type]
    assert accuracy_reward(ans("A"), "<answer>A</answer>", None) == 0.0  # type: ignore[arg-type]


def test_reference_regex_agrees_on_table():
    """The linear-time format check agrees with the reference regex on every table case."""
    ref = re.compile(r"<think>.*?</think>\s*<answer>.*?</answer>", re.DOTALL)
    for completion, _ in FORMAT_CASES:
        assert format_reward(completion) == (1.0 if ref.fullmatch(completion) else 0.0)
    assert not math.isnan(accuracy_reward(ans("nan"), "<answer>nan</answer>", "regression"))
