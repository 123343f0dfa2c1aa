"""``videorft export`` and ``videorft encoder``: the demo's checkpoint export and encoder training as
commands for a user's own run."""

from __future__ import annotations

import json

import pytest

from verl_videorft.cli import main as videorft


def _checkpoint(root, steps=(3, 12)):
    for n in steps:
        hf = root / f"global_step_{n}" / "actor" / "huggingface"
        hf.mkdir(parents=True)
        (hf / "config.json").write_text(json.dumps({"step": n}))
        (hf / "model.safetensors").write_bytes(b"weights")
    return root


def test_export_writes_the_latest_steps_model(tmp_path, capsys):
    ckpt = _checkpoint(tmp_path / "ckpt")
    assert videorft(["export", str(ckpt), str(tmp_path / "hf")]) == 0
    assert json.loads((tmp_path / "hf" / "config.json").read_text()) == {"step": 12}
    assert "global_step_12" in capsys.readouterr().out


def test_export_refuses_an_existing_target_without_force(tmp_path, capsys):
    ckpt = _checkpoint(tmp_path / "ckpt")
    (tmp_path / "hf").mkdir()
    (tmp_path / "hf" / "mine.txt").write_text("keep")
    assert videorft(["export", str(ckpt), str(tmp_path / "hf")]) == 2
    assert (tmp_path / "hf" / "mine.txt").read_text() == "keep"
    assert "give --force" in capsys.readouterr().err


def test_export_refuses_a_target_inside_the_checkpoint(tmp_path, capsys):
    ckpt = _checkpoint(tmp_path / "ckpt")
    assert videorft(["export", str(ckpt), str(ckpt / "hf")]) == 2
    assert "inside the checkpoint folder" in capsys.readouterr().err


def test_export_of_a_folder_without_steps_is_one_line(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert videorft(["export", str(tmp_path / "empty"), str(tmp_path / "hf")]) == 2
    err = capsys.readouterr().err.strip()
    assert "no global_step_<n> folder" in err and len(err.splitlines()) == 1


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    from verl_videorft.data.demo_tasks import make_task_set
    from verl_videorft.testing import build_tiny_siglip

    root = tmp_path_factory.mktemp("clips")
    paths = make_task_set(root / "data", n_train=12, n_test=6, seed=0, size=56)
    return paths, build_tiny_siglip(root / "siglip")


def test_encoder_train_writes_a_model_and_reports_the_held_out_auc(clips, tmp_path, capsys):
    paths, siglip = clips
    out = tmp_path / "enc"
    code = videorft(["encoder", "train", "--encoder", str(siglip), "--captions", str(paths["train"]),
                     "--held-out", str(paths["test"]), "--out", str(out), "--steps", "3", "--batch-size", "4",
                     "--profile", "eval"])
    assert code == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["steps"] == 3 and stats["pairs"] == 12 and 0.0 <= stats["auc"] <= 1.0
    assert (out / "config.json").is_file()
    assert videorft(["encoder", "auc", "--encoder", str(out), "--captions", str(paths["test"]),
                     "--profile", "eval"]) == 0
    assert json.loads(capsys.readouterr().out)["auc"] == pytest.approx(stats["auc"])


def test_encoder_train_refuses_to_overwrite_its_input(clips, capsys):
    paths, siglip = clips
    code = videorft(["encoder", "train", "--encoder", str(siglip), "--captions", str(paths["train"]),
                     "--out", str(siglip), "--force"])
    assert code == 2 and "is the input encoder" in capsys.readouterr().err


def test_encoder_captions_file_errors_are_one_line(tmp_path, capsys):
    bad = tmp_path / "captions.jsonl"
    bad.write_text('{"path": "a.mp4", "caption": "x"}\n{"path": 3}\n')
    assert videorft(["encoder", "auc", "--encoder", "unused", "--captions", str(bad)]) == 1
    assert f"{bad}:2:" in capsys.readouterr().err
