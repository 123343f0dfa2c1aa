"""The CoT stages on Ray Data, on a local Ray instance with two CPUs."""

from __future__ import annotations

import json

import pytest

from verl_videorft.cot.runner import CotJob, build
from verl_videorft.cot.scripted import ScriptedEngine
from verl_videorft.cot.settings import STAGES, CotSettings, FilterSettings
from verl_videorft.data.demo_set import make_demo_data


@pytest.mark.slow
def test_ray_pipeline_matches_local_run(ray_local, tmp_path, tiny_siglip):
    demo = make_demo_data(tmp_path / "demo", n_train=6, n_val=1, frames=16)["train"]
    recs = [json.loads(line) for line in demo.read_text().splitlines()]
    filt = FilterSettings(semantic_encoder=str(tiny_siglip), semantic_device="cpu", min_semantic=0.0)
    settings = CotSettings(frame_pixels=56 * 56, max_frames=4, batch_size=2, filter=filt)
    eng = ScriptedEngine(recs, wrong={"train-0003"})
    engines = dict.fromkeys(("describe", "reason", "revise"), eng)
    ray_stats = build(CotJob([str(demo)], tmp_path / "ray", settings=settings, progress=False, ray=True,
                             ray_workers=1, ray_cpus=0.5), engines=engines)
    local_stats = build(CotJob([str(demo)], tmp_path / "local", settings=settings, progress=False), engines=engines)
    assert ray_stats["kept"] == local_stats["kept"] == 5 and ray_stats["dropped"] == {"wrong_answer": 1}
    assert ray_stats["frames"] == {"videos": 6, "decodes": 6, "max_decodes_per_video": 1}
    for stage in STAGES:
        rows = [json.loads(line) for line in (tmp_path / "ray" / f"{stage}.jsonl").read_text().splitlines()]
        assert sorted(r["problem_id"] for r in rows) == sorted(r["problem_id"] for r in recs), stage
    kept = lambda d: sorted(json.dumps(r, sort_keys=True) for r in map(json.loads, (d / "cot.jsonl").open()))
    assert kept(tmp_path / "ray") == kept(tmp_path / "local")
    # resumable: a second Ray run has nothing left to do and changes nothing
    again = build(CotJob([str(demo)], tmp_path / "ray", settings=settings, progress=False, ray=True,
                         ray_cpus=0.5), engines=engines)
    assert again == ray_stats
