"""Small pieces of the demo and the product features it uses: curves, report targets, checkpoint export,
SFT log parsing, caption files and the contrastive loss, the demo's command line."""

from __future__ import annotations

import json

import numpy as np
import pytest

from verl_videorft import curves
from verl_videorft.demo import report


def _log(tmp_path, lines):
    path = tmp_path / "metrics.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_read_metrics_skips_a_torn_last_line(tmp_path):
    path = _log(tmp_path, ['{"step": 1, "data": {"a": 1.0}}', '{"step": 2, "data": {"a": 2'])
    assert curves.read_metrics(path) == [{"step": 1, "a": 1.0}]


def test_read_metrics_names_a_bad_line_in_the_middle(tmp_path):
    path = _log(tmp_path, ['{"step": 1, "data": {"a": 1.0}}', "not json", '{"step": 3, "data": {}}'])
    with pytest.raises(ValueError, match=r"metrics.jsonl:2: not a verl file-logger line"):
        curves.read_metrics(path)


@pytest.mark.parametrize(("patterns", "expected"), [
    (["rewards"], ["critic/score/mean", "reward/acc/mean", "reward/sem/mean"]),
    (["reward/a*"], ["reward/acc/mean"]),
    (["rollout"], ["training/rollout_probs_diff_max"]),
    (["nothing/*"], []),
])
def test_select_keys(patterns, expected):
    rows = [{"step": 1, "critic/score/mean": 1.0, "reward/acc/mean": 0.5, "reward/sem/mean": 0.2,
             "training/rollout_probs_diff_max": 1e-5, "reward/note": "text"}]
    assert curves.select_keys(rows, patterns) == expected


def test_series_skips_missing_and_non_finite_values():
    rows = [{"step": 1, "x": 1.0}, {"step": 2}, {"step": 3, "x": float("nan")}, {"step": 4, "x": 4.0}]
    assert curves.series(rows, "x") == ([1, 4], [1.0, 4.0])


def test_plot_command_writes_a_png(tmp_path, capsys):
    from verl_videorft.cli import main

    path = _log(tmp_path, [json.dumps({"step": i, "data": {"reward/acc/mean": i / 10}}) for i in range(1, 5)])
    assert main(["plot", str(path), "--out", str(tmp_path / "c.png")]) == 0
    assert (tmp_path / "c.png").read_bytes()[:4] == b"\x89PNG"


def test_plot_command_fails_when_nothing_matches(tmp_path, capsys):
    from verl_videorft.cli import main

    path = _log(tmp_path, ['{"step": 1, "data": {"a": 1.0}}'])
    assert main(["plot", str(path), "--metrics", "reward/*"]) == 1
    assert "no numeric metric matches" in capsys.readouterr().err


def _report(**over):
    stage = {"accuracy": 0.5, "format": 1.0, "n": 210, "by_type": {"multiple choice": 0.9, "numerical": 0.3}}
    stages = {k: dict(stage) for k in report.STAGES}
    stages["sft"] = {**stage, "accuracy": 0.35}
    stages["blind"] = {**stage, "accuracy": 0.3}
    stages["shuffled"] = {**stage, "by_type": {"multiple choice": 0.5}}
    steps = [{"step": i, "reward/score": 1.0 + 0.1 * i, "reward/sem": 0.1, "training/rollout_probs_diff_max": 1e-5}
             for i in range(1, 9)]
    return {"chance": 0.28, "stages": {**stages, **over.pop("stages", {})}, "steps": over.pop("steps", steps), **over}


def test_targets_all_met_on_a_good_run():
    assert all(ok for _, ok, _ in report.targets(_report(), "multiple choice"))


@pytest.mark.parametrize(("change", "target"), [
    ({"stages": {"sft": {"accuracy": 0.45, "format": 1.0, "n": 1, "by_type": {}}}}, "SFT + 10"),
    ({"stages": {"blind": {"accuracy": 0.5, "format": 1.0, "n": 1, "by_type": {}}}}, "blind"),
    ({"steps": [{"step": i, "reward/score": 1.0, "reward/sem": 0.0, "training/rollout_probs_diff_max": 2e-3}
                for i in range(1, 9)]}, "last quarter"),
    ({"steps": [{"step": i, "reward/score": 1.0, "reward/sem": 0.0, "training/rollout_probs_diff_max": 2e-3}
                for i in range(1, 9)]}, "semantic"),
    ({"steps": [{"step": i, "reward/score": 1.0, "reward/sem": 0.0, "training/rollout_probs_diff_max": 2e-3}
                for i in range(1, 9)]}, "rollout_probs_diff_max"),
])
def test_a_missed_target_is_reported(change, target):
    results = {name: ok for name, ok, _ in report.targets(_report(**change), "multiple choice")}
    assert [ok for name, ok in results.items() if target in name] == [False]


def test_report_json_has_the_issues_schema():
    metrics = [{"step": 1, "critic/score/mean": 1.5, "reward/acc/mean": 0.5, "reward/format/mean": 1.0,
                "reward/sem/mean": 0.1, "reward/length_bonus/mean": 0.0, "training/rollout_probs_diff_max": 1e-6}]
    out = report.build_report(wall_s=1.0, chance=0.3, encoder_auc=0.9,
                              stages={k: {"accuracy": 0.1, "format": 1.0, "n": 2, "by_type": {}, "by_task": {}}
                                      for k in report.STAGES}, metrics=metrics)
    assert sorted(out) == ["chance", "encoder_auc", "stages", "steps", "wall_s"]
    assert sorted(out["stages"]["rl"]) == ["accuracy", "by_type", "format", "n"]
    assert out["steps"] == [{"step": 1, "reward/score": 1.5, "reward/acc": 0.5, "reward/format": 1.0,
                             "reward/sem": 0.1, "reward/length_bonus": 0.0, "training/rollout_probs_diff_max": 1e-6}]


def test_latest_step_and_export_of_a_saved_hf_model(tmp_path):
    from verl_videorft.checkpoints import export_hf, latest_step

    for n in (2, 10, 9):
        hf = tmp_path / "ckpt" / f"global_step_{n}" / "actor" / "huggingface"
        hf.mkdir(parents=True)
        (hf / "config.json").write_text(json.dumps({"step": n}))
        (hf / "model.safetensors").write_bytes(b"w")
    assert latest_step(tmp_path / "ckpt").name == "global_step_10"
    out = export_hf(tmp_path / "ckpt", tmp_path / "hf")
    assert json.loads((out / "config.json").read_text()) == {"step": 10}


def test_latest_step_of_a_folder_without_steps_fails(tmp_path):
    from verl_videorft.checkpoints import latest_step

    with pytest.raises(FileNotFoundError, match="no global_step_<n> folder"):
        latest_step(tmp_path)


def test_sft_overrides_use_the_projects_dataset_and_save_an_hf_model(tmp_path):
    from verl_videorft.demo.sft import SFTSettings, sft_overrides

    args = sft_overrides(tmp_path / "d.parquet", tmp_path / "m", tmp_path / "c", SFTSettings(steps=7))
    assert "data.custom_cls.path=pkg://verl_videorft.data.sft" in args
    assert "checkpoint.save_contents=[model,hf_model]" in args and "trainer.save_freq=7" in args


def test_caption_file_errors_name_file_and_line(tmp_path):
    from verl_videorft.rewards.contrastive import read_caption_pairs

    path = tmp_path / "captions.jsonl"
    path.write_text('{"path": "a.mp4", "caption": "a red circle"}\n{"path": "b.mp4"}\n')
    with pytest.raises(ValueError, match=r"captions.jsonl:2: a caption record needs string fields"):
        read_caption_pairs(path)


def test_caption_paths_are_taken_from_the_media_root(tmp_path):
    from verl_videorft.rewards.contrastive import read_caption_pairs

    path = tmp_path / "captions.jsonl"
    path.write_text('{"path": "./v/a.mp4", "caption": "a red circle"}\n')
    assert read_caption_pairs(path, tmp_path / "media")[0].path == str((tmp_path / "media/v/a.mp4").resolve())


def test_sigmoid_loss_is_lower_for_matching_pairs():
    import torch

    from verl_videorft.rewards.contrastive import sigmoid_loss

    eye = torch.eye(4)
    same = torch.eye(4, dtype=torch.bool)
    scale, bias = torch.tensor(np.log(10.0)), torch.tensor(-5.0)
    assert sigmoid_loss(eye, eye, same, scale, bias) < sigmoid_loss(eye, eye.flip(0), same, scale, bias)


@pytest.mark.parametrize("flag", [["--train-file", "x.jsonl"], ["--media-root", "."], ["trainer.x=1"]])
def test_full_demo_refuses_grpo_only_options(flag, tmp_path, capsys):
    from verl_videorft.cli.demo import main

    assert main(["--workdir", str(tmp_path), *flag]) == 2
    assert "go with --grpo-only" in capsys.readouterr().err


def test_run_trainer_creates_its_workdir(tmp_path, monkeypatch):
    from verl_videorft.demo import grpo

    calls = []
    monkeypatch.setattr(grpo, "run_logged", lambda cmd, log, **kw: calls.append(log) or 0)
    result = grpo.run_trainer(["+recipe=videorft_cpu"], tmp_path / "tgrpo", 10)
    assert result.returncode == 0 and (tmp_path / "tgrpo").is_dir() and calls == [tmp_path / "tgrpo" / "train.log"]
