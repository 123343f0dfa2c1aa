"""Bad records in training: why a record is skipped, what replaces it, and how each skip is counted.

**Reasons** (:data:`REASONS`, the metric names ``videorft/skipped/<reason>``):

- ``bad_record``: the line is not JSON, a required field is missing, the problem type is unknown;
- ``untagged_solution``: the solution has no non-empty ``<answer>...</answer>`` and cannot be tagged
  unambiguously (see :func:`tagged_solution`);
- ``missing_media`` / ``corrupt_media``: the media file does not exist / exists but is unusable
  (empty, not a regular file; or, found by the agent loop, it does not decode);
- ``prompt_too_long``: found by the agent loop, the prompt does not fit ``max_prompt_length``.

The agent loop flags a prompt it replaced in ``extra_fields["videorft_error"]``
(``decode_error: …`` → ``corrupt_media``, ``prompt_too_long: …``).

**Replacement.** A skipped position is replaced by a record drawn with a generator seeded by
``(seed, position)``: a few random draws among positions not known to be bad, then a scan from a
random start, so a long run of bad records is replaced by different records (not the next good
one over and over), the same in every process, and training fails only when no record is usable.

**Counting.** The sample returned in place of a bad position carries ``{reason: 1}`` in
``extra_info[SKIPPED_KEY]`` (``{}`` for an ordinary sample). verl stores every trajectory with its
prompt's ``extra_info`` and ``uid``; ``videorft_sync`` adds the counts once per ``uid`` with
:func:`skip_metrics`, so a skip counts once per prompt, wherever the dataset ran.

    >>> tagged_solution("B", "multiple choice"), tagged_solution(" 3.5 ", "numerical")
    ('<answer>B</answer>', '<answer>3.5</answer>')
    >>> counts = skip_metrics([("u1", {SKIPPED_KEY: {"missing_media": 1}}, {}),
    ...                        ("u1", {SKIPPED_KEY: {"missing_media": 1}}, {}),
    ...                        ("u2", {}, {ERROR_KEY: "decode_error: bad.mp4: moov atom not found"})])
    >>> counts["videorft/skipped/missing_media"], counts["videorft/skipped/corrupt_media"]
    (1.0, 1.0)
"""

from __future__ import annotations

import collections
import math
from collections.abc import Container, Iterable, Iterator, Mapping
from typing import Any

import numpy as np

from verl_videorft.names import ERROR_KEY
from verl_videorft.prompts import RecordError

REASONS = ("bad_record", "untagged_solution", "missing_media", "corrupt_media", "prompt_too_long")
SKIPPED_KEY = "videorft_skipped"  # extra_info: {reason: count} of the records skipped for this sample
# The agent loop's extra_fields[ERROR_KEY] is "<kind>: <message>" for a prompt it replaced (scored 0).
AGENT_ERROR_REASONS = {"decode_error": "corrupt_media", "prompt_too_long": "prompt_too_long"}
METRIC_PREFIX = "videorft/skipped/"
RANDOM_DRAWS = 16  # random draws before the scan that guarantees an end
# Process-wide counts of samples that could not be used, by reason ({"bad_record": n,
# "decode_error": n, ...}), for logs and tests; the step metrics count skips through each sample's
# extra_info instead (one process's counter never sees the other workers').
BAD_SAMPLES: collections.Counter = collections.Counter()


class SkipError(RecordError):
    """A record that training skips; ``reason`` is one of :data:`REASONS`."""

    reason = "bad_record"

    def __init__(self, message: str, reason: str | None = None):
        super().__init__(message)
        if reason is not None:
            self.reason = reason


class UntaggedSolutionError(SkipError):
    """The solution has no answer the accuracy reward can extract."""

    reason = "untagged_solution"


def skip_reason(err: Exception) -> str:
    """The :data:`REASONS` entry for an error raised while building a sample."""
    return err.reason if isinstance(err, SkipError) else "bad_record"


def tagged_solution(solution: str, problem_type: str, options: Any = None) -> str:
    """``solution`` with a non-empty ``<answer>...</answer>``, or :class:`UntaggedSolutionError`.

    The accuracy reward extracts the answer from both the completion and the solution with the same
    function; a solution without one extracts to "" and an answerless completion would then score
    1.0. A solution with a non-empty answer is returned unchanged. A *bare* solution (no answer tags
    at all) is wrapped only where its type makes it unambiguous:

    - ``multiple choice``: one capital letter (within the options, when the record has them);
    - ``numerical`` / ``regression``: one finite number (``3``, ``-2.5``, ``1e3``).

    Everything else (OCR, free-form, empty ``<answer></answer>``, text around a bare answer) raises.

    >>> tagged_solution("<answer>A</answer>", "multiple choice")
    '<answer>A</answer>'
    >>> tagged_solution("hello", "OCR")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    verl_videorft.data.skips.UntaggedSolutionError: solution 'hello' has no <answer>...</answer> (OCR answers ...)
    """
    from verl_videorft.rewards.text import extract_answer

    if extract_answer(solution):
        return solution
    bare = solution.strip()
    if bare and "<answer" not in solution and "</answer" not in solution:
        if problem_type == "multiple choice" and len(bare) == 1 and "A" <= bare <= "Z":
            n_options = len(options) if isinstance(options, list) else 26
            if ord(bare) - ord("A") < n_options:
                return f"<answer>{bare}</answer>"
        elif problem_type in ("numerical", "regression") and _is_number(bare):
            return f"<answer>{bare}</answer>"
    rule = {"multiple choice": "one option letter is", "numerical": "one number is",
            "regression": "one number is"}.get(problem_type)
    why = f"only {rule} wrapped" if rule else f"{problem_type} answers are wrapped only when tagged"
    raise UntaggedSolutionError(f"solution {solution[:40]!r} has no <answer>...</answer> ({why})")


def _is_number(text: str) -> bool:
    try:
        return math.isfinite(float(text))
    except ValueError:
        return False


def replacement_candidates(n: int, item: int, seed: int, known_bad: Container[int]) -> Iterator[int]:
    """Positions to try in place of bad position ``item`` of ``n``; never ``item`` or a known-bad one.

    :data:`RANDOM_DRAWS` seeded draws, then every position once from a seeded random start, so the
    search ends and finds a usable record whenever one exists. The order depends only on
    ``(seed, item)``, so every process replaces a position by the same record.

    >>> list(replacement_candidates(4, 1, seed=0, known_bad={0, 2, 3}))
    []
    >>> len(set(replacement_candidates(100, 5, seed=0, known_bad=set()))) == 99
    True
    """
    rng = np.random.default_rng([abs(int(seed)), int(item)])
    for _ in range(RANDOM_DRAWS):
        j = int(rng.integers(n))
        if j != item and j not in known_bad:
            yield j
    start = int(rng.integers(n))
    for k in range(n):
        j = (start + k) % n
        if j != item and j not in known_bad:
            yield j


def skip_metrics(rows: Iterable[tuple[str, Any, Any]]) -> dict[str, float]:
    """``videorft/skipped/<reason>`` from ``(uid, extra_info, extra_fields)`` per trajectory, once per uid.

    Every reason in :data:`REASONS` is present (0.0 when nothing was skipped), so curves are continuous.
    """
    counts = dict.fromkeys(REASONS, 0)
    seen: set[str] = set()
    for uid, extra_info, extra_fields in rows:
        if uid in seen:
            continue
        seen.add(uid)
        skipped = extra_info.get(SKIPPED_KEY) if isinstance(extra_info, Mapping) else None
        for reason, count in (skipped or {}).items():
            counts[reason] = counts.get(reason, 0) + int(count)
        error = extra_fields.get(ERROR_KEY) if isinstance(extra_fields, Mapping) else None
        if error:
            reason = AGENT_ERROR_REASONS.get(str(error).split(":", 1)[0], "bad_record")
            counts[reason] = counts.get(reason, 0) + 1
    return {f"{METRIC_PREFIX}{reason}": float(count) for reason, count in counts.items()}


__all__ = ["AGENT_ERROR_REASONS", "METRIC_PREFIX", "REASONS", "SKIPPED_KEY", "SkipError", "UntaggedSolutionError",
           "replacement_candidates", "skip_metrics", "skip_reason", "tagged_solution"]
