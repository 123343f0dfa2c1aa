"""Skip bookkeeping (verl_videorft/data/skips.py): replacement order and the per-step skip metrics."""

from __future__ import annotations

import pytest

from verl_videorft.data.skips import METRIC_PREFIX, REASONS, SKIPPED_KEY, replacement_candidates, skip_metrics
from verl_videorft.names import ERROR_KEY


def _rollouts(uid: str, n: int, skipped: dict | None = None, error: str | None = None) -> list[tuple]:
    """The ``n`` trajectories of one prompt, as the trainer reads them back: same uid, same extra_info."""
    return [(uid, {SKIPPED_KEY: skipped or {}}, {ERROR_KEY: error}) for _ in range(n)]


@pytest.mark.parametrize("rows, expected", [
    (_rollouts("u1", 4, {"missing_media": 1}), {"missing_media": 1}),
    (_rollouts("u1", 4, error="decode_error: SampleDecodeError: x.mp4: moov atom not found"), {"corrupt_media": 1}),
    (_rollouts("u1", 4, error="prompt_too_long: sample 3: prompt has 900 tokens"), {"prompt_too_long": 1}),
    (_rollouts("u1", 4, {"untagged_solution": 1}) + _rollouts("u2", 4, {"bad_record": 1}),
     {"untagged_solution": 1, "bad_record": 1}),
    (_rollouts("u1", 4, {"missing_media": 1}, error="decode_error: y") + _rollouts("u2", 4),
     {"missing_media": 1, "corrupt_media": 1}),
    (_rollouts("u1", 4) + _rollouts("u2", 4), {}),
])
def test_skips_count_once_per_prompt_by_reason(rows, expected):
    got = skip_metrics(rows)
    assert got == {f"{METRIC_PREFIX}{r}": float(expected.get(r, 0)) for r in REASONS}


@pytest.mark.parametrize("n, item, known_bad", [
    (10, 0, set()),
    (10, 9, {1, 2, 3}),
    (1000, 500, set(range(0, 1000, 2))),
])
def test_replacements_reach_every_usable_position(n, item, known_bad):
    seen = list(replacement_candidates(n, item, seed=3, known_bad=known_bad))
    assert item not in seen and not known_bad & set(seen)
    assert set(seen) == set(range(n)) - known_bad - {item}


def test_replacements_differ_between_neighbouring_positions():
    """Not the next good record for each bad position: that would return one record for a whole run."""
    firsts = {next(replacement_candidates(1000, i, seed=0, known_bad=set(range(100)))) for i in range(100)}
    assert len(firsts) > 80
