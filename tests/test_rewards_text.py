"""Format and accuracy rewards: the reference behaviour, quirks included, as one-line cases."""

from __future__ import annotations

import math
import re

import pytest

from verl_videorft.rewards import AccuracyOptions, accuracy_reward, extract_answer, format_reward
from verl_videorft.rewards.text import parse_number, score_answer

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


@pytest.mark.parametrize("text, expected", [
    ("x <answer>\n A \n</answer> <answer>B</answer>", "A"),   # first match, stripped
    ("<answer>A", ""),                                          # unclosed
    ("</answer><answer>C</answer>", "C"),
    ("no tags", ""),
])
def test_extract_answer(text, expected):
    assert extract_answer(text) == expected


@pytest.mark.parametrize("call", [
    lambda: format_reward(None),
    lambda: accuracy_reward(b"<answer>A</answer>", "<answer>A</answer>", "multiple choice"),
    lambda: accuracy_reward(ans("A"), "<answer>A</answer>", None),
    lambda: accuracy_reward(ans("A"), None, "multiple choice"),
])
def test_non_string_inputs_score_zero(call):
    assert call() == 0.0


_REFERENCE_FORMAT = re.compile(r"<think>.*?</think>\s*<answer>.*?</answer>", re.DOTALL)


@pytest.mark.parametrize("completion", [c for c, _ in FORMAT_CASES])
def test_format_agrees_with_the_reference_regex(completion):
    assert format_reward(completion) == (1.0 if _REFERENCE_FORMAT.fullmatch(completion) else 0.0)


@pytest.mark.parametrize("text, expected", [
    ("42", 42.0),
    ("1,000.5", 1000.5),
    ("3,5", 35.0),             # commas removed, not a decimal comma
    (" 7 ", 7.0),              # float() strips whitespace
    ("1e3", 1000.0),
    ("ten", None),
    ("", None),
    (None, None),
])
def test_parse_number(text, expected):
    assert parse_number(text) == expected


def test_parse_number_nan_is_a_number():
    assert math.isnan(parse_number("nan"))


# The text scorers cost the product of both lengths: past the bound on either side they score 0.
LIMIT = AccuracyOptions(max_text_answer_chars=100)
LONG = "word " * 40   # 200 chars


@pytest.mark.parametrize("answer, truth, problem_type, expected", [
    ("hello world", "hello world", "OCR", 1.0),
    (LONG, "hello world", "OCR", 0.0),           # answer over the bound
    ("hello world", LONG, "OCR", 0.0),           # ground truth over the bound
    (LONG, LONG, "OCR", 0.0),
    ("red car", "red car", "free-form", 1.0),
    (LONG, "red car", "free-form", 0.0),
    ("red car", LONG, "free-form", 0.0),
    (LONG, LONG, "free-form", 0.0),
    (LONG, LONG, "multiple choice", 1.0),        # linear-time types are not bounded
])
def test_text_length_bound_on_both_sides(answer, truth, problem_type, expected):
    assert score_answer(answer, truth, problem_type, LIMIT) == pytest.approx(expected)


@pytest.mark.parametrize("problem_type", ["OCR", "free-form"])
def test_no_bound_scores_long_texts(problem_type):
    assert score_answer(LONG, LONG, problem_type, AccuracyOptions(max_text_answer_chars=None)) == pytest.approx(1.0)


AT_BOUND = "x" * 4095 + " " + "y" * 4096  # two words, 8192 characters


@pytest.mark.parametrize("problem_type", ["OCR", "free-form"])
@pytest.mark.parametrize("truth, expected", [
    (AT_BOUND, 1.0),
    (AT_BOUND + "y", 0.0),  # one character over the default bound
])
def test_default_bound_is_8192_chars(problem_type, truth, expected):
    assert score_answer(AT_BOUND, truth, problem_type) == pytest.approx(expected)
