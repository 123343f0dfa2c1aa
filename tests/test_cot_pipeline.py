"""``videorft cot build`` end to end on demo records: stage files, stats, SFT output, resume, kill -9."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from verl_videorft.cot.runner import CotJob, build
from verl_videorft.cot.scripted import ScriptedEngine
from verl_videorft.cot.settings import STAGES, CotSettings, EngineSpec, FilterSettings
from verl_videorft.data.demo_set import make_demo_data


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    # 6 records: 5 videos (one per problem type) and 1 image
    return make_demo_data(tmp_path_factory.mktemp("cot_demo"), n_train=6, n_val=1, frames=16)["train"]


def records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def settings(siglip: Path, **kw) -> CotSettings:
    filt = FilterSettings(semantic_encoder=str(siglip), semantic_device="cpu", min_semantic=kw.pop("min_semantic", 0.0))
    return CotSettings(frame_pixels=56 * 56, max_frames=4, batch_size=2, filter=filt, **kw)


def scripted_run(demo, out, siglip, **kw):
    eng = ScriptedEngine(records(demo), wrong=kw.pop("wrong", ()), invalid_first=kw.pop("invalid_first", 0))
    job = CotJob([str(demo)], out, media_root=kw.pop("media_root", None), settings=settings(siglip, **kw),
                 progress=False)
    return build(job, engines=dict.fromkeys(("describe", "reason", "revise"), eng)), eng


def lines(path: Path) -> list[dict]:
    out = []
    for line in path.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            pass  # a torn line left by a kill
    return out


@pytest.fixture(scope="module")
def one_wrong(demo, tmp_path_factory, tiny_siglip):
    """A scripted run in which record train-0001 answers wrong: ``(stats, out folder)``."""
    out = tmp_path_factory.mktemp("one_wrong")
    stats, _ = scripted_run(demo, out, tiny_siglip, wrong={"train-0001"})
    return stats, out


@pytest.mark.parametrize("stage", STAGES)
def test_each_stage_file_holds_every_record(demo, one_wrong, stage):
    ids = [r["problem_id"] for r in lines(one_wrong[1] / f"{stage}.jsonl")]
    assert sorted(ids) == sorted(r["problem_id"] for r in records(demo))


def test_stats_file_is_what_build_returns(one_wrong):
    stats, out = one_wrong
    assert stats == json.loads((out / "stats.json").read_text())


def test_stats_count_kept_and_dropped(one_wrong):
    stats, _ = one_wrong
    assert (stats["input"], stats["kept"], stats["dropped"]) == (6, 5, {"wrong_answer": 1})


def test_stats_count_each_stage(one_wrong):
    describe = one_wrong[0]["stages"]["describe"]
    assert {k: describe[k] for k in ("done", "failed", "tokens_in", "tokens_out")} == \
        {"done": 6, "failed": 0, "tokens_in": 300, "tokens_out": 120}


def test_cot_output_holds_the_kept_reasoning(one_wrong):
    kept = lines(one_wrong[1] / "cot.jsonl")
    assert len(kept) == 5
    assert all(r["process"].startswith("<think>Let me think") and r["process"].endswith("</think>") for r in kept)


def test_cot_output_is_accepted_by_videorft_data_sft(demo, one_wrong, tmp_path):
    import pyarrow.parquet as pq

    from verl_videorft.cli import main

    out = one_wrong[1]
    assert main(["data", "sft", str(out / "cot.jsonl"), "-o", str(tmp_path / "sft.parquet"),
                 "--media-root", str(demo.parent)]) == 0
    table = pq.read_table(tmp_path / "sft.parquet").to_pylist()
    assert sorted(r["problem_id"] for r in table) == sorted(r["problem_id"] for r in lines(out / "cot.jsonl"))
    assert table[0]["messages"][2]["content"].startswith("<think>")


def test_descriptions_in_stage_file_match_schema(demo, tmp_path, tiny_siglip):
    from jsonschema import Draft202012Validator

    from verl_videorft.cot.schema import DESCRIPTION_SCHEMA

    scripted_run(demo, tmp_path, tiny_siglip)
    for row in lines(tmp_path / "describe.jsonl"):
        Draft202012Validator(DESCRIPTION_SCHEMA).validate(row["description"])
        assert row["frames"]["count"] == len(row["frames"]["timestamps"]) and row["prompts"] == "cot-prompts-v1"


def test_each_video_is_decoded_once_across_frame_stages(demo, tmp_path, tiny_siglip):
    stats, _ = scripted_run(demo, tmp_path, tiny_siglip)
    assert stats["frames"] == {"videos": 6, "decodes": 6, "max_decodes_per_video": 1}
    decodes = {s: sum(r["decodes"] for r in lines(tmp_path / f"{s}.jsonl")) for s in ("describe", "revise", "filter")}
    assert decodes == {"describe": 6, "revise": 0, "filter": 0}


def test_rerun_skips_finished_records(demo, tmp_path, tiny_siglip):
    scripted_run(demo, tmp_path, tiny_siglip)
    sizes = {s: (tmp_path / f"{s}.jsonl").stat().st_size for s in STAGES}
    stats, eng = scripted_run(demo, tmp_path, tiny_siglip)
    assert eng.calls == 0 and stats["kept"] == 6
    assert {s: (tmp_path / f"{s}.jsonl").stat().st_size for s in STAGES} == sizes


def test_stages_run_alone_continue_where_the_last_run_stopped(demo, tmp_path, tiny_siglip):
    eng = ScriptedEngine(records(demo))
    common = dict(settings=settings(tiny_siglip), progress=False)
    first = build(CotJob([str(demo)], tmp_path, stages=["describe"], **common), engines={"describe": eng})
    assert first["dropped"] == {"unfinished": 6} and not (tmp_path / "reason.jsonl").read_text()
    rest = build(CotJob([str(demo)], tmp_path, stages=["reason", "revise", "filter"], **common),
                 engines={"reason": eng, "revise": eng})
    assert rest["kept"] == 6 and rest["stages"]["describe"]["done"] == 6


@pytest.mark.parametrize("invalid_first, max_attempts, attempts, failed", [
    (3, 3, 9, 0),  # batch of 2: both invalid, then one invalid, then valid: 3 + 2 + 4 x 1
    (4, 2, 8, 2),  # batch of 2: invalid twice each -> both fail after 2 attempts; 4 x 1
])
def test_invalid_descriptions_are_retried_then_fail(demo, tmp_path, tiny_siglip, invalid_first, max_attempts,
                                                    attempts, failed):
    stats, _ = scripted_run(demo, tmp_path, tiny_siglip, invalid_first=invalid_first, max_attempts=max_attempts)
    rows = lines(tmp_path / "describe.jsonl")
    assert sum(r["attempts"] for r in rows) == attempts
    assert stats["stages"]["describe"]["failed"] == stats["dropped"].get("describe_failed", 0) == failed
    assert all(r["raw"].startswith("Sure!") for r in rows if r["status"] == "failed")


def test_bad_records_and_missing_media_are_counted_not_raised(demo, tmp_path, tiny_siglip):
    recs = records(demo)
    recs[0]["problem_type"] = "essay"
    recs[1]["path"] = "./videos/missing.mp4"
    data = tmp_path / "in.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in recs))
    stats, _ = scripted_run(data, tmp_path / "out", tiny_siglip, media_root=str(demo.parent))
    assert stats["dropped"] == {"bad_record": 1, "media_error": 1} and stats["kept"] == 4
    bad = [r for r in lines(tmp_path / "out" / "describe.jsonl") if r["reason"] == "bad_record"][0]
    assert bad["error"].startswith(f"{data}:1: ") and "essay" in bad["error"]


def test_repeated_problem_id_names_both_lines(demo, tmp_path):
    data = tmp_path / "dup.jsonl"
    data.write_text(demo.read_text() + demo.read_text().splitlines()[0] + "\n")
    with pytest.raises(ValueError, match=r"dup.jsonl:7: problem_id 'train-0000' already used at .*dup.jsonl:1"):
        build(CotJob([str(data)], tmp_path / "o", progress=False), engines={})


KILL_SCRIPT = textwrap.dedent("""
    import json, sys, time
    from verl_videorft.cot.runner import CotJob, build
    from verl_videorft.cot.scripted import ScriptedEngine
    from verl_videorft.cot.settings import CotSettings, FilterSettings

    demo, out, siglip = sys.argv[1:4]
    class Slow(ScriptedEngine):
        def generate(self, requests):
            time.sleep(0.3)
            return super().generate(requests)
    eng = Slow([json.loads(l) for l in open(demo)])
    s = CotSettings(frame_pixels=56 * 56, max_frames=4, batch_size=1,
                    filter=FilterSettings(semantic_encoder=siglip, semantic_device="cpu", min_semantic=0.0))
    build(CotJob([demo], out, settings=s, progress=False), engines=dict.fromkeys(("describe", "reason", "revise"), eng))
""")


def test_kill_9_mid_stage_then_rerun_loses_and_duplicates_nothing(demo, tmp_path, tiny_siglip):
    proc = subprocess.Popen([sys.executable, "-c", KILL_SCRIPT, str(demo), str(tmp_path), str(tiny_siglip)])
    reason = tmp_path / "reason.jsonl"
    deadline = time.time() + 240
    while time.time() < deadline and (not reason.exists() or len(lines(reason)) < 2):
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert 2 <= len(lines(reason)) < 6, "the kill should land in the middle of the reason stage"
    stats, _ = scripted_run(demo, tmp_path, tiny_siglip)
    ids = sorted(r["problem_id"] for r in records(demo))
    for stage in STAGES:
        assert sorted(r["problem_id"] for r in lines(tmp_path / f"{stage}.jsonl")) == ids, stage
    assert sorted(r["problem_id"] for r in lines(tmp_path / "cot.jsonl")) == ids
    assert stats["kept"] == 6 and stats["kept"] + sum(stats["dropped"].values()) == stats["input"]


@pytest.mark.slow
def test_hf_engine_end_to_end_on_demo_records(demo, tmp_path, tiny_qwen, tiny_siglip, capsys):
    """The real HF engine (tiny random Qwen2.5-VL) on all model stages: its replies are garbage,
    so every description fails validation after max_attempts and is counted, not raised."""
    from verl_videorft.cli import main

    rc = main(["cot", "build", str(demo), "--out", str(tmp_path), "--engine", "hf", "--model", str(tiny_qwen),
               "--max-new-tokens", "8", "--frame-pixels", str(56 * 56), "--max-frames", "4", "--max-attempts", "2",
               "--semantic-encoder", str(tiny_siglip), "--quiet"])
    assert rc == 0
    stats = json.loads((tmp_path / "stats.json").read_text())
    assert stats["dropped"] == {"describe_failed": 6} and stats["kept"] == 0
    d = stats["stages"]["describe"]
    assert d["failed"] == 6 and d["tokens_in"] > 6 * 50 and 0 < d["tokens_out"] <= 6 * 2 * 8
    assert all(r["attempts"] == 2 and r["engine"] == "hf" for r in lines(tmp_path / "describe.jsonl"))
    assert "describe_failed 6" in capsys.readouterr().out


@pytest.mark.slow
def test_hf_engine_runs_text_and_vision_stages(demo, tmp_path, tiny_qwen, tiny_siglip):
    """Valid descriptions (scripted) so the HF engine really runs reason (text only)."""
    eng = ScriptedEngine(records(demo))
    spec = EngineSpec("hf", str(tiny_qwen))
    job = CotJob([str(demo)], tmp_path, engines={"reason": spec, "revise": spec},
                 settings=settings(tiny_siglip, max_attempts=1, gen={"reason": _gen(), "revise": _gen()}),
                 progress=False)
    stats = build(job, engines={"describe": eng})
    assert stats["stages"]["reason"]["failed"] == 6 and stats["stages"]["reason"]["tokens_in"] > 6 * 100
    assert stats["dropped"] == {"reason_failed": 6}


def _gen():
    from verl_videorft.cot.settings import GenSettings

    return GenSettings(max_new_tokens=8)
