"""The demo's task set: deterministic, balanced, every answer in the frames, order only in the order."""

from __future__ import annotations

import json

import numpy as np
import pytest

from verl_videorft.data import demo_tasks
from verl_videorft.data.demo_set import BACKGROUND, COLOURS


@pytest.fixture(scope="module")
def task_set(tmp_path_factory):
    out = tmp_path_factory.mktemp("tasks")
    paths = demo_tasks.make_task_set(out, n_train=12, n_test=24, seed=5)
    test = [json.loads(line) for line in paths["test"].read_text().splitlines()]
    return out, paths, test


def _frames(root, rec):
    from verl_videorft.video import sample_frames

    return sample_frames(root / rec["path"], {"nframes": 8, "min_pixels": 3136, "max_pixels": 3136}, cache=False)[0]


def _colours_in(frame: np.ndarray) -> set[str]:
    """Colours covering more than 20 pixels of a frame (video compression blurs the edges only)."""
    px = frame.reshape(-1, 3).astype(int)
    return {name for name, rgb in COLOURS.items() if (np.abs(px - np.array(rgb)).sum(1) < 60).sum() > 20}


def test_same_seed_same_records(tmp_path, task_set):
    _, paths, _ = task_set
    again = demo_tasks.make_task_set(tmp_path, n_train=12, n_test=24, seed=5)
    assert again["test"].read_text() == paths["test"].read_text()


def test_answers_are_balanced_within_each_task(task_set):
    _, _, test = task_set
    for task in demo_tasks.TASKS:
        answers = [r["solution"] for r in test if r["task"] == task]
        counts = {a: answers.count(a) for a in set(answers)}
        assert max(counts.values()) - min(counts.values()) <= 1, (task, counts)


def test_each_task_has_its_own_problem_type(task_set):
    _, _, test = task_set
    assert {r["task"]: r["problem_type"] for r in test} == demo_tasks.TASKS


def test_colour_answer_is_the_colour_in_the_frames(task_set):
    root, _, test = task_set
    rec = next(r for r in test if r["task"] == "colour")
    assert _colours_in(_frames(root, rec)[0]) == {rec["solution"][len("<answer>"):-len("</answer>")]}


def test_count_answer_is_the_number_of_shapes(task_set):
    root, _, test = task_set
    for rec in (r for r in test if r["task"] == "count"):
        assert str(len(_colours_in(_frames(root, rec)[0]))) in rec["solution"]


def test_order_clip_shows_one_shape_per_frame_first_half_then_second(task_set):
    root, _, test = task_set
    rec = next(r for r in test if r["task"] == "order")
    seen = [_colours_in(f) for f in _frames(root, rec)]
    assert all(len(s) == 1 for s in seen)
    first, second = seen[0], seen[-1]
    assert first != second and seen[:4] == [first] * 4 and seen[4:] == [second] * 4
    letter = "ABCD"[demo_tasks.TASK_COLOURS.index(next(iter(first)))]
    assert rec["solution"] == f"<answer>{letter}</answer>"


def test_order_clip_halves_have_the_same_amount_of_shape(task_set):
    """No size cue: which shape comes first cannot be told from how much of a frame it covers, on average."""
    root, _, test = task_set
    order = [r for r in test if r["task"] == "order"]
    firsts, seconds = [], []
    for rec in order:
        frames = _frames(root, rec)
        covered = (np.abs(frames.astype(int) - BACKGROUND).sum(-1) > 60).mean(axis=(1, 2))
        firsts.append(covered[:4].mean())
        seconds.append(covered[4:].mean())
    assert abs(np.mean(firsts) - np.mean(seconds)) < 0.05


def test_chance_is_the_mean_of_one_over_the_answer_space(task_set):
    _, paths, test = task_set
    meta = json.loads(paths["meta"].read_text())
    expected = np.mean([{"colour": 1 / 4, "count": 1 / 3, "order": 1 / 4}[r["task"]] for r in test])
    assert meta["chance"] == pytest.approx(expected)


def test_caption_is_the_think_text_after_its_lead_in(task_set):
    from verl_videorft.rewards.semantic import think_text

    _, _, test = task_set
    for rec in test[:6]:
        assert think_text(rec["process"] + rec["solution"]) == rec["caption"]


def test_vocabulary_makes_task_words_single_tokens():
    from verl_videorft.testing import build_tiny_tokenizer

    tok = build_tiny_tokenizer(800, demo_tasks.vocabulary())
    for word in (" yellow", " square", " circle", " total"):
        assert len(tok(word).input_ids) == 1, word


def test_odd_frame_count_is_refused(tmp_path):
    with pytest.raises(ValueError, match="frames must be even"):
        demo_tasks.make_task_set(tmp_path, n_train=1, n_test=1, frames=7)
