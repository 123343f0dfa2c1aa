"""Rule rewards on the completion text: format and accuracy (five problem types).

Faithful to the reference (Video-R1 / VideoRFT) by default, quirks included; each quirk we judge a
bug has an opt-in fix in :class:`AccuracyOptions`. One fix is always on: a non-finite answer
(``nan``, ``inf``) never earns numerical or regression reward against a finite ground truth.

Everything here runs in time linear in the completion length (no backtracking-prone regex over
the whole text), so a 1 MB adversarial completion is scored in milliseconds.

>>> format_reward("<think>look</think> <answer>B</answer>")
1.0
>>> accuracy_reward("<think>.</think><answer>B</answer>", "<answer>B</answer>", "multiple choice")
1.0
>>> accuracy_reward("<answer>3,5</answer>", "<answer>3.5</answer>", "numerical")  # ',' is a marker
0.0
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

_OPEN, _CLOSE = "<answer>", "</answer>"
# `</think>` + whitespace + `<answer>`: literal prefix, one whitespace run; linear with `search`.
_JOIN = re.compile(r"</think>\s*<answer>")


@dataclass(frozen=True)
class AccuracyOptions:
    """Opt-in fixes of reference quirks (all off = faithful), plus a resource guard.

    - ``lenient_choice``: multiple choice accepts ``a``, ``A.``, ``(A)``, ``A. text`` for ``A``.
    - ``value_numerical``: numerical compares values only ("5" = "5.0", "1,000" = "1000");
      the reference scores 0 when exactly one side has a '.' or ','.
    - ``regression_zero_fix``: regression against a zero ground truth scores 1 for an exact 0
      (reference: always 0), and an exact answer scores exactly 1.0 (reference: 1 - 1e-9/|g|...).
    - ``normalize_ocr``: OCR lower-cases and drops punctuation before WER (reference: raw words).
    - ``max_text_answer_chars``: OCR and free-form score 0 when the answer *or the ground truth* is
      longer than this, instead of running word edit distance / stemming and ROUGE-L, whose cost is
      the product of the two lengths (1 MB against 1 MB took 12.5 s for OCR; 8 KB against 64 KB
      1.25 s for free-form). A 1024-token answer is ~4 KB. None = off (the reference scores any size).

    >>> AccuracyOptions(lenient_choice=True).lenient_choice
    True
    """

    lenient_choice: bool = False
    value_numerical: bool = False
    regression_zero_fix: bool = False
    normalize_ocr: bool = False
    max_text_answer_chars: int | None = 8192


FAITHFUL = AccuracyOptions()


def extract_answer(text: str) -> str:
    """Stripped body of the first ``<answer>...</answer>``; "" when there is none.

    Same result as ``re.search(r"<answer>\\s*(.*?)\\s*</answer>", text, re.DOTALL)`` then
    ``.group(1).strip()`` (property-tested), in linear time with two ``str.find`` calls.

    >>> extract_answer("<think><answer> A </answer></think><answer>B</answer>")
    'A'
    >>> extract_answer("B")
    ''
    """
    start = text.find(_OPEN)
    if start < 0:
        return ""
    end = text.find(_CLOSE, start + len(_OPEN))
    if end < 0:
        return ""
    # `\s` in a str regex and str.strip() use the same Unicode whitespace set.
    return text[start + len(_OPEN):end].strip()


def format_reward(completion: str) -> float:
    """1.0 iff ``<think>.*?</think>\\s*<answer>.*?</answer>`` fully matches (DOTALL), else 0.0.

    Linear-time equivalent of the reference ``re.fullmatch``: the text must start with
    ``<think>``, end with ``</answer>``, and somewhere between hold ``</think>\\s*<answer>``.
    The first such join (after the opening tag) has the earliest end, so only it is checked.

    >>> format_reward("<think>a</think>\\n<answer>b</answer>")
    1.0
    >>> format_reward("<think>a</think><answer>b</answer>\\n")
    0.0
    """
    if not isinstance(completion, str):
        return 0.0
    if not (completion.startswith("<think>") and completion.endswith(_CLOSE)):
        return 0.0
    join = _JOIN.search(completion, len("<think>"))
    return 1.0 if join is not None and join.end() <= len(completion) - len(_CLOSE) else 0.0


def parse_number(text: str) -> float | None:
    """Python ``float()`` after removing commas, as the reference (training and eval) does; None if unparsable.

    >>> parse_number("1,000.5"), parse_number("3,5"), parse_number("ten")
    (1000.5, 35.0, None)
    """
    try:
        return float(text.replace(",", ""))
    except (ValueError, OverflowError, AttributeError):
        return None


def _too_long(out: str, gt: str, opts: AccuracyOptions) -> bool:
    """Either side over ``max_text_answer_chars`` (the text scorers' cost is the product of both)."""
    limit = opts.max_text_answer_chars
    return limit is not None and (len(out) > limit or len(gt) > limit)


_CHOICE = re.compile(r"\(?([A-Za-z])\)?(?:[.:)]|\s|$)")


def _choice_letter(answer: str) -> str:
    match = _CHOICE.match(answer.strip())
    return match.group(1).upper() if match else answer.strip()


def _multiple_choice(out: str, gt: str, opts: AccuracyOptions) -> float:
    if opts.lenient_choice:
        return 1.0 if _choice_letter(out) == _choice_letter(gt) else 0.0
    return 1.0 if out.strip() == gt.strip() else 0.0


def _numerical(out: str, gt: str, opts: AccuracyOptions) -> float:
    if not opts.value_numerical:
        # Reference quirk: '.' and ',' both count as a "decimal marker"; mismatch scores 0.
        if (("." in gt) or ("," in gt)) != (("." in out) or ("," in out)):
            return 0.0
    o, g = parse_number(out), parse_number(gt)
    if o is None or g is None:
        return 0.0
    if math.isfinite(g) and not math.isfinite(o):
        return 0.0
    return 1.0 if round(g, 2) == round(o, 2) else 0.0


def _regression(out: str, gt: str, opts: AccuracyOptions) -> float:
    o, g = parse_number(out), parse_number(gt)
    if o is None or g is None:
        return 0.0
    if math.isfinite(g) and not math.isfinite(o):
        return 0.0  # always on: the reference scores a `nan` answer 1.0 (max(0, nan) == 0)
    if opts.regression_zero_fix:
        if g == 0.0:
            return 1.0 if o == 0.0 else 0.0
        if o == g:
            return 1.0
    rel = (abs(o - g) + 1e-9) / (abs(g) + 1e-9)
    return 1.0 - min(1.0, max(0.0, rel))


_PUNCT = re.compile(r"[^\w\s]")


def _ocr(out: str, gt: str, opts: AccuracyOptions) -> float:
    import editdistance  # C implementation; the reference's pure-Python DP is O(m*n)

    if _too_long(out, gt, opts):
        return 0.0
    if opts.normalize_ocr:
        out, gt = _PUNCT.sub("", out.lower()), _PUNCT.sub("", gt.lower())
    ref, hyp = gt.split(), out.split()
    denom = max(1, len(ref))
    # Edit distance >= length difference: a long hypothesis is WER >= 1 without computing it.
    if len(hyp) - len(ref) >= denom:
        return 0.0
    wer = editdistance.eval(ref, hyp) / denom
    return max(0.0, min(1.0, 1.0 - wer))


@lru_cache(maxsize=1)
def _rouge_scorer():
    """``RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=True)`` with a memoised stemmer.

    rouge-score's own tokenize function and Porter stemmer, so scores are identical (tested);
    memoising ``stem`` makes repeated words free (Porter costs ~100 µs a word).
    """
    from types import SimpleNamespace

    from rouge_score import rouge_scorer, tokenize, tokenizers
    from rouge_score.tokenizers import porter  # nltk's, as DefaultTokenizer uses

    class MemoStemTokenizer(tokenizers.Tokenizer):
        def __init__(self) -> None:
            self._stemmer = SimpleNamespace(stem=lru_cache(maxsize=1 << 16)(porter.PorterStemmer().stem))

        def tokenize(self, text):
            return tokenize.tokenize(text, self._stemmer)

    return rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], tokenizer=MemoStemTokenizer())


def _free_form(out: str, gt: str, opts: AccuracyOptions) -> float:
    if _too_long(out, gt, opts):
        return 0.0
    scores = _rouge_scorer().score(gt, out)  # target = reference, prediction = answer
    mean = (scores["rouge1"].fmeasure + scores["rouge2"].fmeasure + scores["rougeL"].fmeasure) / 3
    return max(0.0, min(1.0, mean))


_SCORERS: dict[str, Callable[[str, str, AccuracyOptions], float]] = {
    "multiple choice": _multiple_choice,
    "numerical": _numerical,
    "OCR": _ocr,
    "free-form": _free_form,
    "regression": _regression,
}


def score_answer(answer: str, ground_truth_answer: str, problem_type: str,
                 options: AccuracyOptions | None = None) -> float:
    """Accuracy in [0, 1] of an already-extracted answer against an extracted ground truth.

    The per-type scorer alone, with no ``<answer>`` extraction: for callers that pick the answer
    themselves (the evaluation scores an untagged output as its own answer). Unknown problem types
    (case and spaces matter), non-string inputs and any internal error score 0; never raises.

    >>> score_answer("B", "B", "multiple choice")
    1.0
    >>> score_answer("5", "5.0", "numerical"), score_answer("5", "5.0", "numerical",
    ...                                                      AccuracyOptions(value_numerical=True))
    (0.0, 1.0)
    >>> score_answer("B", "B", "Multiple Choice")   # unknown type
    0.0
    """
    scorer = _SCORERS.get(problem_type) if isinstance(problem_type, str) else None
    if scorer is None or not isinstance(answer, str) or not isinstance(ground_truth_answer, str):
        return 0.0
    try:
        value = float(scorer(answer, ground_truth_answer, options or FAITHFUL))
    except Exception:  # the reference scores any exception 0; a run never dies on one sample
        return 0.0
    return value if 0.0 <= value <= 1.0 else 0.0


def accuracy_reward(completion: str, solution: str, problem_type: str, *,
                    options: AccuracyOptions | None = None) -> float:
    """Accuracy in [0, 1] of the completion's answer against the solution's, by problem type.

    Both sides go through :func:`extract_answer` (so an untagged solution extracts to ""), then
    :func:`score_answer`. Unknown problem types (case and spaces matter) score 0; any internal
    error scores 0.

    >>> accuracy_reward("<answer>a</answer>", "<answer>A</answer>", "multiple choice")
    0.0
    >>> accuracy_reward("<answer>a</answer>", "<answer>A</answer>", "multiple choice",
    ...                 options=AccuracyOptions(lenient_choice=True))
    1.0
    >>> accuracy_reward("<answer>nan</answer>", "<answer>4</answer>", "regression")
    0.0
    """
    if not isinstance(completion, str) or not isinstance(solution, str):
        return 0.0
    return score_answer(extract_answer(completion), extract_answer(solution), problem_type, options)
