"""Foundation: the recipe composes through verl's real main_ppo, registrations reach Ray workers,
and the doctor names a broken plugin (the wheel in a clean environment: test_wheel.py; the doctor's
other failure modes: test_cli_errors.py)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import yaml

pytestmark = pytest.mark.timeout(600)

PAPER_SETTINGS = {
    ("algorithm", "adv_estimator"): "grpo",
    ("actor_rollout_ref", "rollout", "n"): 8,
    ("actor_rollout_ref", "actor", "optim", "lr"): 1e-6,
    ("actor_rollout_ref", "actor", "use_kl_loss"): True,
    ("actor_rollout_ref", "actor", "kl_loss_type"): "low_var_kl",
    ("actor_rollout_ref", "actor", "kl_loss_coef"): 0.04,
    ("actor_rollout_ref", "actor", "entropy_coeff"): 0,
    ("actor_rollout_ref", "rollout", "temperature"): 1.0,
    ("actor_rollout_ref", "rollout", "top_p"): 0.95,
    ("data", "max_response_length"): 1024,
    ("data", "videorft", "profiles", "train", "nframes"): 16,
    ("data", "videorft", "profiles", "train", "min_pixels"): 128 * 28 * 28,
    ("data", "videorft", "profiles", "train", "max_pixels"): 128 * 28 * 28,
    ("data", "videorft", "frame_profile"): "train",
    ("data", "custom_cls", "path"): "pkg://verl_videorft.data",
    ("data", "custom_cls", "name"): "VideoRFTDataset",
    ("actor_rollout_ref", "rollout", "agent", "default_agent_loop"): "videorft_agent",
    ("reward", "reward_manager", "name"): "videorft",
    ("reward", "reward_manager", "source"): "register",
}


def compose(python: str, *overrides: str, env: dict | None = None) -> dict:
    """Run verl's real ``main_ppo --cfg job`` in a subprocess and parse the printed config."""
    proc = subprocess.run(
        [str(python), "-m", "verl.trainer.main_ppo", *overrides, "--cfg", "job"],
        capture_output=True, text=True, timeout=300, env=env, cwd="/",
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return yaml.safe_load(proc.stdout)


def lookup(cfg: dict, keys: tuple) -> object:
    for key in keys:
        cfg = cfg[key]
    return cfg


def assert_paper_settings(cfg: dict) -> None:
    wrong = {".".join(k): (lookup(cfg, k), v) for k, v in PAPER_SETTINGS.items() if lookup(cfg, k) != v}
    assert not wrong, f"composed config differs from the paper (got, want): {wrong}"


def test_recipe_composes_through_main_ppo():
    assert_paper_settings(compose(sys.executable, "+recipe=videorft"))


def test_without_recipe_verl_defaults_differ():
    # Guards the check above: verl's own defaults are not the paper's.
    cfg = compose(sys.executable)
    assert cfg["algorithm"]["adv_estimator"] != "grpo"
    assert cfg["actor_rollout_ref"]["rollout"]["n"] == 1


def test_registrations_inside_ray_worker():
    from verl_videorft.doctor.ray_worker import ray_worker_report

    report, _how = ray_worker_report()
    assert report["ok"], report["problems"]
    assert report["pid"] != os.getpid()
    assert all(report["registered"].values()), report["registered"]


def test_doctor_names_a_broken_plugin_import(tmp_path):
    # A `wrapt` that fails to import breaks verl_videorft.plugin; verl swallows that, the doctor must not.
    broken = tmp_path / "wrapt"
    broken.mkdir()
    (broken / "__init__.py").write_text("raise ImportError('deliberately broken for the doctor test')\n")
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    proc = subprocess.run([sys.executable, "-m", "verl_videorft.cli", "doctor", "--no-ray"],
                          capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "deliberately broken for the doctor test" in proc.stdout
    assert "verl_videorft.plugin" in proc.stdout


def test_doctor_reports_disabled_plugins():
    env = {**os.environ, "VERL_USE_EXTERNAL_PLUGINS": "none"}
    proc = subprocess.run([sys.executable, "-m", "verl_videorft.cli", "doctor", "--no-ray"],
                          capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 1
    assert "VERL_USE_EXTERNAL_PLUGINS='none'" in proc.stdout


def test_doctor_passes_on_this_install():
    proc = subprocess.run([sys.executable, "-m", "verl_videorft.cli", "doctor", "--no-ray"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "verl 0.9.1" in proc.stdout
