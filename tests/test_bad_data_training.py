"""verl's real GRPO loop on CPU survives a record file full of trouble, and counts every skip.

One record file, read in order (``data.shuffle=false``, 2 prompts a step), four steps:

| step | positions | what | must show |
|---|---|---|---|
| 1 | 0, 1 | a malformed line; a record whose video is missing | ``skipped/bad_record`` 1, ``skipped/missing_media`` 1 |
| 2 | 2, 3 | one prompt twice | the step completes (was: ``split_with_sizes`` in update_actor) |
| 3 | 4, 5 | a bare OCR solution; a corrupt video | ``skipped/untagged_solution`` 1, ``skipped/corrupt_media`` 1 |
| 4 | 6, 7 | two different prompts of one token length | the step completes (was: step-1 abort) |

The rest of the file is good demo records (one with a bare multiple-choice letter, which the dataset
wraps), the pool skipped records are replaced from. Which record replaces a skipped one is a seeded
draw; the test asks a dataset built like the trainer's which one, so a replacement that happens to
be the corrupt video is expected as one more ``corrupt_media`` in that step. Counts are once per
prompt, not per rollout (``rollout.n`` is 4).
"""

from __future__ import annotations

import collections
import json
import shutil
from pathlib import Path

import pytest

pytest.importorskip("verl")

TIMEOUT_S = 420
STEPS = 4
SEED = 7
CORRUPT_SRC = Path(__file__).resolve().parents[2] / "shared" / "media" / "corrupted.mp4"


def _equal_length_pair(records: list[dict]) -> list[dict]:
    """Two video records with the same question text (so the same prompt length) and different videos."""
    by_question = collections.defaultdict(list)
    for rec in records:
        if rec.get("data_type", "video") == "video" and rec["problem_type"] != "multiple choice":
            by_question[rec["problem"]].append(rec)
    return next(recs[:2] for recs in by_question.values() if len({r["path"] for r in recs}) >= 2)


def _write_bad_file(data_dir: Path) -> Path:
    records = [json.loads(line) for line in (data_dir / "train.jsonl").read_text().splitlines()]
    corrupt = data_dir / "videos" / "corrupt.mp4"
    if CORRUPT_SRC.is_file():
        shutil.copy(CORRUPT_SRC, corrupt)
    else:  # a user's clone without ../shared: junk that passes the stat check, fails to decode
        corrupt.write_bytes(b"\x00\x00\x00\x18ftypmp42 not really a video" * 8)
    good = records[1]
    pair = _equal_length_pair(records)
    bare_letter = next(r for r in records if r["problem_type"] == "multiple choice")
    lines = [
        '{"problem": "broken line", ',                                               # 0 bad_record
        json.dumps({**good, "problem_id": "no-video", "path": "./videos/missing.mp4"}),  # 1 missing_media
        json.dumps(good), json.dumps(good),                                          # 2, 3 repeated
        json.dumps({**good, "problem_id": "bare-ocr", "problem_type": "OCR", "solution": "CAT"}),  # 4
        json.dumps({**good, "problem_id": "corrupt-video", "path": "./videos/corrupt.mp4"}),      # 5
        json.dumps(pair[0]), json.dumps(pair[1]),                                    # 6, 7 equal length
        json.dumps({**bare_letter, "problem_id": "bare-letter",
                    "solution": bare_letter["solution"].replace("<answer>", "").replace("</answer>", "")}),
    ] + [json.dumps(r) for r in records[2:]]
    path = data_dir / "train_bad.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


def _expected_skips(path: Path) -> list[collections.Counter]:
    """Per step, the skips a dataset built like the trainer's reports (plus corrupt videos it returns)."""
    from omegaconf import OmegaConf

    from verl_videorft.data.dataset import VideoRFTDataset
    from verl_videorft.data.skips import SKIPPED_KEY

    ds = VideoRFTDataset(data_files=str(path), tokenizer=None, processor=None,
                         config=OmegaConf.create({"seed": SEED, "videorft": {}}))
    steps = []
    for step in range(STEPS):
        counts: collections.Counter = collections.Counter()
        for pos in (2 * step, 2 * step + 1):
            row = ds[pos]
            counts.update(row["extra_info"][SKIPPED_KEY])
            counts["corrupt_media"] += row["extra_info"]["media_path"].endswith("corrupt.mp4")
        steps.append(counts)
    return steps


@pytest.fixture(scope="module")
def bad_run(tmp_path_factory):
    from verl_videorft import demo

    workdir = tmp_path_factory.mktemp("bad_data")
    inputs = demo.prepare_inputs(workdir)
    inputs["train"] = _write_bad_file(inputs["train"].parent)
    overrides = demo.trainer_overrides(inputs, workdir, steps=STEPS) + [
        "data.shuffle=false",
        f"data.seed={SEED}",
        "trainer.save_freq=-1",
        "++data.videorft.on_decode_error=raise",  # the agent loop flags an undecodable video (scored 0)
    ]
    result = demo.run_trainer(overrides, workdir, timeout_s=TIMEOUT_S, echo=False)
    log = (workdir / "train.log").read_text()
    return demo.read_metrics(workdir), result, log, _expected_skips(inputs["train"])


@pytest.mark.slow
@pytest.mark.timeout(TIMEOUT_S + 120)
def test_training_survives_repeated_equal_length_and_bad_records(bad_run):
    rows, result, log, _ = bad_run
    assert result.returncode == 0, f"trainer failed (exit {result.returncode}); log tail:\n{log[-6000:]}"
    assert [r["step"] for r in rows] == list(range(1, STEPS + 1))
    assert "split_with_sizes" not in log and "EnforceNotMet" not in log


@pytest.mark.slow
@pytest.mark.timeout(TIMEOUT_S + 120)
def test_step_metrics_count_each_skip_once_per_prompt(bad_run):
    from verl_videorft.data.skips import METRIC_PREFIX, REASONS

    rows, result, log, expected = bad_run
    assert len(rows) == STEPS, log[-6000:]
    # the file's own trouble, where the test put it (the replacements can only add to it)
    assert expected[0]["bad_record"] == 1 and expected[0]["missing_media"] == 1
    assert expected[2]["untagged_solution"] == 1 and expected[2]["corrupt_media"] >= 1
    for step, (row, want) in enumerate(zip(rows, expected, strict=True), start=1):
        got = {reason: row[f"{METRIC_PREFIX}{reason}"] for reason in REASONS}
        assert got == {reason: float(want[reason]) for reason in REASONS}, (step, got, want)
