"""``videorft eval`` controls the demo relies on: blank and shuffled frames, a benchmark of one's own,
and the training prompt's wording."""

from __future__ import annotations

import json

import numpy as np
import pytest

from verl_videorft.evaluation.backends import prepare_sample
from verl_videorft.evaluation.benchmarks import load_benchmark, resolve_benchmark_key
from verl_videorft.evaluation.controls import control_frames


def _frames(n: int = 8) -> np.ndarray:
    return (np.arange(n, dtype=np.uint8) * 20 + 10).reshape(n, 1, 1, 1).repeat(3, axis=3)


def test_blank_frames_are_black_with_the_same_shape():
    out = control_frames(_frames(), "blank", "b/0")
    assert out.shape == (8, 1, 1, 3) and not out.any()


def test_shuffled_frames_are_a_permutation():
    out = control_frames(_frames(), "shuffle", "b/0")
    assert sorted(out[:, 0, 0, 0].tolist()) == sorted(_frames()[:, 0, 0, 0].tolist())


def test_shuffle_is_the_same_for_a_uid_and_differs_across_uids():
    orders = {uid: control_frames(_frames(), "shuffle", uid)[:, 0, 0, 0].tolist() for uid in ("b/0", "b/1", "b/2")}
    assert orders["b/0"] == control_frames(_frames(), "shuffle", "b/0")[:, 0, 0, 0].tolist()
    assert len({tuple(v) for v in orders.values()}) > 1


def test_no_control_leaves_frames_unchanged():
    frames = _frames()
    assert control_frames(frames, None, "b/0") is frames


def test_unknown_control_is_refused():
    with pytest.raises(ValueError, match="unknown frame control"):
        control_frames(_frames(), "mirror", "b/0")


@pytest.fixture(scope="module")
def task_bench(tmp_path_factory):
    from verl_videorft.data.demo_tasks import make_task_set

    out = tmp_path_factory.mktemp("tasks")
    return make_task_set(out, n_train=3, n_test=6, size=56)["test"]


def test_a_benchmark_of_ones_own_keeps_its_key(task_bench):
    samples = load_benchmark(task_bench, "shapes")
    assert [s.uid for s in samples[:2]] == ["shapes/0", "shapes/1"] and not any(s.error for s in samples)


def test_an_unknown_benchmark_name_without_an_explicit_key_fails():
    with pytest.raises(ValueError, match="unknown benchmark"):
        resolve_benchmark_key("eval_my_shapes.json")


@pytest.mark.parametrize(("training_prompt", "wording"), [
    (False, "<think> and </think>"),
    (True, "<think> </think> tags"),
])
def test_question_wording(task_bench, training_prompt, wording):
    sample = load_benchmark(task_bench, "shapes", training_prompt=training_prompt)[0]
    assert wording in sample.question


class _Processor:
    def apply_chat_template(self, messages, **_):
        return json.dumps(messages)


@pytest.mark.parametrize("control", [None, "blank", "shuffle"])
def test_prepare_sample_applies_the_control(task_bench, control):
    sample = next(s for s in load_benchmark(task_bench, "shapes") if s.record["task"] == "order")
    plain = prepare_sample(sample, _Processor(), {"nframes": 8, "min_pixels": 3136, "max_pixels": 3136})
    seen = prepare_sample(sample, _Processor(), {"nframes": 8, "min_pixels": 3136, "max_pixels": 3136},
                          frame_control=control)
    assert np.array_equal(seen.frames, control_frames(plain.frames, control, sample.uid))
