"""``videorft data precompute --ray`` and ``videorft eval --ray`` on a local Ray instance with two
CPUs: the same files and rows as the local run, resumable; and the shared runner's actor sizing."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from verl_videorft.cli import main as cli
from verl_videorft.offline.ray_data import RayOptions, Step, pool_sizes
from verl_videorft.video import PROFILES, resolve_profile

SMALL = resolve_profile({"nframes": 4, "min_pixels": 12 * 28 * 28, "max_pixels": 12 * 28 * 28})
TINY_ARGS = ["--nframes", "4", "--min-pixels", str(12 * 28 * 28), "--max-pixels", str(12 * 28 * 28)]
MC = {"problem_type": "multiple choice", "options": ["A. red", "B. blue", "C. green"], "data_type": "video",
      "solution": "<answer>B</answer>"}


@pytest.mark.parametrize("steps, options, cpus, gpus, expected", [
    ([Step(object, model=True)], RayOptions(), 64, 8, [(8, 1.0)]),                            # an actor per GPU
    ([Step(object), Step(object, model=True)], RayOptions(), 64, 8, [(56, 0.0), (8, 1.0)]),   # CPUs left decode
    ([Step(object), Step(object, model=True)], RayOptions(), 2, 0, [(1, 0.0), (1, 0.0)]),     # no GPU
    ([Step(object, model=True, gpus=4)], RayOptions(), 64, 8, [(2, 4.0)]),                    # vLLM, TP 4
    ([Step(object, model=True)], RayOptions(gpus=0.5), 64, 8, [(16, 0.5)]),                   # two per GPU
    ([Step(object, model=True), Step(object)], RayOptions(workers=3, gpus=0), 64, 8, [(3, 0.0), (3, 0.0)]),
    ([Step(object), Step(object)], RayOptions(cpus=2), 16, 0, [(4, 0.0), (4, 0.0)]),          # steps share CPUs
])
def test_pool_sizes(steps, options, cpus, gpus, expected):
    assert pool_sizes(steps, options, cpus, gpus) == expected


def cache_files(folder):
    return {p.relative_to(folder): p for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def precompute_input(tmp_path_factory):
    from verl_videorft.video.writer import moving_frames, write_clip

    d = tmp_path_factory.mktemp("precompute")
    for seed, name in enumerate(("a", "b", "c")):
        write_clip(d / f"{name}.mp4", moving_frames(12, 64, 48, seed=seed), fps=8)
    (d / "bad.mp4").write_bytes(b"garbage" * 100)
    src = d / "train.jsonl"
    src.write_text("".join(json.dumps({**MC, "problem": f"Q{n}", "path": f"{n}.mp4"}) + "\n"
                           for n in ("a", "b", "c", "bad")))
    return src


def precompute(src, out, encoder, *extra):
    return cli(["data", "precompute", str(src), "--profile", "ray_test", "--frame-cache-dir", str(out / "frames"),
                "--semantic-model", str(encoder), "--embedding-cache-dir", str(out / "emb"), "--workers", "1",
                "--quiet", *extra])


@pytest.fixture()
def small_profile(monkeypatch):
    from verl_videorft.video import cache as frame_cache

    monkeypatch.setitem(PROFILES, "ray_test", SMALL)
    monkeypatch.setattr(frame_cache, "_GLOBAL", frame_cache._GLOBAL)  # the local run reconfigures it


@pytest.fixture(scope="module")
def ray_precomputed(ray_local, precompute_input, tiny_siglip, tmp_path_factory):
    out = tmp_path_factory.mktemp("ray_out")
    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(PROFILES, "ray_test", SMALL)
        assert precompute(precompute_input, out, tiny_siglip, "--ray") == 1  # bad.mp4 reported, the rest done
    return out


@pytest.mark.slow
def test_precompute_on_ray_writes_the_local_runs_cache_files(ray_precomputed, precompute_input, tiny_siglip,
                                                              tmp_path, small_profile, capsys):
    assert precompute(precompute_input, tmp_path, tiny_siglip) == 1
    assert "bad.mp4" in capsys.readouterr().err
    for kind in ("frames", "emb"):
        local, ray = cache_files(tmp_path / kind), cache_files(ray_precomputed / kind)
        assert set(local) == set(ray) and len([p for p in local if p.suffix == ".npy"]) == 3, kind
        for name in local:
            if name.suffix == ".npy":
                a, b = np.load(local[name]), np.load(ray[name])
                assert np.array_equal(a, b) if kind == "frames" else np.allclose(a, b, atol=1e-5), name


@pytest.mark.slow
def test_precompute_rerun_on_ray_redoes_only_missing_files(ray_precomputed, precompute_input, tiny_siglip,
                                                           small_profile, capsys):
    before = {n: p.stat().st_mtime_ns for n, p in cache_files(ray_precomputed / "frames").items()}
    gone = {n for n in before if n.stem == next(iter(before)).stem}  # one video's .npy and .json
    for name in gone:
        (ray_precomputed / "frames" / name).unlink()
    capsys.readouterr()
    assert precompute(precompute_input, ray_precomputed, tiny_siglip, "--ray") == 1
    assert "0 encoded, 3 already cached, 0 failed" in capsys.readouterr().out
    after = {n: p.stat().st_mtime_ns for n, p in cache_files(ray_precomputed / "frames").items()}
    assert set(after) == set(before)
    assert {n for n in before if after[n] != before[n]} == gone  # decoded again: the missing one alone


class Crash(BaseException):
    """Stands for the driver being killed: not an Exception, so nothing swallows it."""


@pytest.fixture(scope="module")
def bench_dir(tmp_path_factory, clip):
    d = tmp_path_factory.mktemp("bench")
    (d / "media").mkdir()
    shutil.copy(clip, d / "media" / "clip.mp4")
    recs = [{**MC, "problem": f"What colour is shape {i}?", "path": "./media/clip.mp4"} for i in range(5)]
    recs += [{**MC, "problem": "Missing video?", "path": "./media/none.mp4"}, {**MC, "problem": "No path"}]
    for i, key in enumerate(("mmvu", "tempcompass")):
        (d / f"eval_{key}.json").write_text(json.dumps([{"problem_id": j, **r} for j, r in enumerate(recs[i::2])]))
    return d


def eval_args(bench_dir, model, out):
    return ["eval", "--model", str(model), "--data-dir", str(bench_dir), "--out", str(out), "--batch-size", "2",
            "--max-new-tokens", "4", "--temperature", "0", "--device", "cpu", "--no-progress", *TINY_ARGS]


def rows(out):
    """results.jsonl by uid, without the timing."""
    lines = [json.loads(x) for x in (out / "results.jsonl").read_text().splitlines()]
    assert len(lines) == len({r["uid"] for r in lines}), "a sample was written twice"
    return {r["uid"]: {k: v for k, v in r.items() if k != "elapsed_s"} for r in lines}


@pytest.fixture(scope="module")
def local_eval(bench_dir, tiny_qwen, tmp_path_factory):
    out = tmp_path_factory.mktemp("local_eval")
    assert cli(eval_args(bench_dir, tiny_qwen, out)) == 0
    return rows(out)


@pytest.mark.slow
def test_eval_on_ray_gives_the_local_runs_rows(ray_local, bench_dir, tiny_qwen, local_eval, tmp_path):
    assert cli([*eval_args(bench_dir, tiny_qwen, tmp_path), "--ray"]) == 0
    assert rows(tmp_path) == local_eval
    assert len(local_eval) == 7 and sum(r["status"] == "error" for r in local_eval.values()) == 2


@pytest.mark.slow
def test_eval_on_ray_resumes_after_the_driver_dies(ray_local, bench_dir, tiny_qwen, local_eval, tmp_path,
                                                   monkeypatch):
    from verl_videorft.evaluation import ray_eval, runner

    def dies_after_first_batch(samples, out_path, evaluate, **kw):
        def evaluate_then_die(pending, write):
            def write_once(batch_rows):
                write(batch_rows)
                raise Crash()

            evaluate(pending, write_once)

        return runner.run_rows(samples, out_path, evaluate_then_die, **kw)

    monkeypatch.setattr(ray_eval, "run_rows", dies_after_first_batch)
    with pytest.raises(Crash):
        cli([*eval_args(bench_dir, tiny_qwen, tmp_path), "--ray"])
    first = (tmp_path / "results.jsonl").read_text().splitlines()
    assert 0 < len(first) < len(local_eval)
    monkeypatch.undo()
    assert cli([*eval_args(bench_dir, tiny_qwen, tmp_path), "--ray"]) == 0
    lines = (tmp_path / "results.jsonl").read_text().splitlines()
    assert lines[:len(first)] == first  # the rows written before the crash stay, timing included
    assert rows(tmp_path) == local_eval  # every other sample done once, the same as locally


@pytest.mark.slow
def test_a_step_needing_more_gpus_than_the_cluster_has_fails_at_once(ray_local):
    from verl_videorft.errors import UsageError
    from verl_videorft.offline.ray_data import ObjectWorker, pack, run_pipeline

    with pytest.raises(UsageError, match="needs 1 GPU"):  # instead of waiting for a GPU forever
        run_pipeline(pack([1]), [Step(ObjectWorker, model=True, gpus=1)], RayOptions(), 1, print)
