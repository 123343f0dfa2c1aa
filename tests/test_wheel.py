"""The wheel is the product: built, installed into a clean virtual environment, and used from an
empty folder, everything the README points at works without the checkout.

The clean venv sees the dev venv's third-party packages through a plain path line in a ``.pth``
file. A path line adds that folder to ``sys.path`` without processing the ``.pth`` files inside it,
so the dev venv's editable install of this project (a ``.pth`` putting the checkout on
``sys.path``) stays invisible: every ``verl_videorft`` module loads from the wheel.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest

from verl_videorft.cpu.torchvision_shim import install as install_shim

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1200)]

REWARD_PLUGINS = ("format", "accuracy", "semantic", "videorft_rule")


class CleanEnv:
    def __init__(self, python: Path, site: Path, wheel: Path, empty: Path):
        self.python, self.site, self.wheel, self.empty = python, site, wheel, empty

    def run(self, *argv: str, timeout: float = 300, cwd: Path | None = None) -> subprocess.CompletedProcess:
        """``python *argv`` in the clean venv, from an empty folder, with no PYTHONPATH."""
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
        return subprocess.run([str(self.python), *argv], capture_output=True, text=True, timeout=timeout,
                              env=env, cwd=cwd or self.empty)


@pytest.fixture(scope="module")
def clean_env(tmp_path_factory, repo_root) -> CleanEnv:
    root = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                    str(repo_root), "-w", str(root / "dist")], check=True, timeout=600)
    (wheel,) = (root / "dist").glob("verl_videorft-*.whl")
    venv.EnvBuilder(with_pip=False).create(root / "venv")
    python = root / "venv" / "bin" / "python"
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True).stdout.strip())
    (site / "dev_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    install_shim(str(site))
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-index", "--target", str(site),
                    str(wheel)], check=True, timeout=300)
    empty = root / "empty"
    empty.mkdir()
    return CleanEnv(python, site, wheel, empty)


def checkout_packages(repo_root: Path) -> set[str]:
    """Every package of the checkout (a folder with ``__init__.py``) under ``verl_videorft``."""
    return {".".join(p.parent.relative_to(repo_root).parts) for p in (repo_root / "verl_videorft").rglob("__init__.py")
            if "__pycache__" not in p.parts}


def test_wheel_holds_every_package_and_the_recipes(clean_env, repo_root):
    names = set(zipfile.ZipFile(clean_env.wheel).namelist())
    missing = {pkg for pkg in checkout_packages(repo_root) if pkg.replace(".", "/") + "/__init__.py" not in names}
    assert not missing, f"packages missing from pyproject's package list: {sorted(missing)}"
    assert "verl_videorft/recipes/recipe/videorft.yaml" in names


def test_modules_load_from_the_wheel_not_the_checkout(clean_env, repo_root):
    code = ("import json, sys, verl_videorft, verl_videorft.reward_plugins.format as f, "
            "hydra_plugins.videorft_searchpath as h; "
            "print(json.dumps({'files': [verl_videorft.__file__, f.__file__, h.__file__], 'path': sys.path}))")
    proc = clean_env.run("-c", code)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout)
    assert all(p.startswith(str(clean_env.site)) for p in out["files"]), out["files"]
    assert str(repo_root) not in out["path"]


def test_recipe_composes_from_the_wheel(clean_env):
    import yaml

    proc = clean_env.run("-m", "verl.trainer.main_ppo", "+recipe=videorft", "--cfg", "job")
    assert proc.returncode == 0, proc.stderr[-3000:]
    cfg = yaml.safe_load(proc.stdout)
    assert cfg["algorithm"]["adv_estimator"] == "grpo"
    assert cfg["reward"]["reward_manager"]["name"] == "videorft"
    assert cfg["data"]["custom_cls"]["path"] == "pkg://verl_videorft.data"


@pytest.mark.parametrize("name", REWARD_PLUGINS)
def test_verl_loads_each_reward_plugin_from_the_wheel(clean_env, name):
    # verl.trainer.ppo.reward.get_custom_reward_fn -> verl.utils.import_utils.load_extern_object: the
    # loader main_ppo uses for reward.custom_reward_function (pkg:// paths are imported as modules).
    code = f"""
import json, inspect
from omegaconf import OmegaConf
from verl.trainer.ppo.reward import get_custom_reward_fn
cfg = OmegaConf.create({{"reward": {{"custom_reward_function": {{
    "path": "pkg://verl_videorft.reward_plugins.{name}", "name": "compute_score", "reward_kwargs": {{}}}}}}}})
fn = get_custom_reward_fn(cfg)
raw = fn.args[0]
print(json.dumps({{"file": inspect.getmodule(raw).__file__,
                  "module": __import__("verl_videorft.reward_plugins.{name}", fromlist=["x"]).__file__}}))
"""
    proc = clean_env.run("-c", code)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["module"].startswith(str(clean_env.site)) and out["file"].startswith(str(clean_env.site))


@pytest.mark.parametrize("name, expected", [
    ("format", 1.0),
    ("accuracy", 1.0),
])
def test_reward_plugin_scores_through_verls_loader(clean_env, name, expected):
    code = f"""
from omegaconf import OmegaConf
from verl.trainer.ppo.reward import get_custom_reward_fn
cfg = OmegaConf.create({{"reward": {{"custom_reward_function": {{
    "path": "pkg://verl_videorft.reward_plugins.{name}", "name": "compute_score", "reward_kwargs": {{}}}}}}}})
fn = get_custom_reward_fn(cfg)
print(fn(data_source="x", solution_str="<think>a</think><answer>B</answer>", ground_truth="<answer>B</answer>",
         extra_info={{"problem_type": "multiple choice"}}))
"""
    proc = clean_env.run("-c", code)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert float(proc.stdout.strip().splitlines()[-1]) == expected


def test_doctor_passes_from_the_wheel(clean_env):
    proc = clean_env.run("-m", "verl_videorft.cli", "doctor", "--no-ray")
    assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]
    assert "[ok] fresh process" in proc.stdout


def test_grpo_demo_runs_from_the_wheel(clean_env, tmp_path):
    workdir = tmp_path / "demo"
    proc = clean_env.run("-m", "verl_videorft.demo", "--grpo-only", "--steps", "1", "--workdir", str(workdir),
                         timeout=1100)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert (workdir / "metrics.jsonl").is_file()
