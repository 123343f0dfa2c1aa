"""Bad input to the ``videorft`` command line, one test per case: no command destroys data,
every error is one line naming file, record and cause, exit code
2 for usage errors and 1 for bad data, no traceback unless ``--debug``."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from verl_videorft.cli import main as cli

GOOD = {"problem": "What happens?", "problem_type": "free-form", "solution": "<answer>x</answer>",
        "data_type": "video", "path": "c.mp4"}
COT = {**GOOD, "process": "<think>it moves</think>"}
TINY_FRAMES = ["--nframes", "4", "--min-pixels", str(12 * 28 * 28), "--max-pixels", str(12 * 28 * 28)]


def jsonl(path: Path, records: list) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records))
    return path


@pytest.fixture
def folder(tmp_path, clip) -> Path:
    """A folder with a good clip ``c.mp4`` and ``good.jsonl`` pointing at it."""
    shutil.copy(clip, tmp_path / "c.mp4")
    jsonl(tmp_path / "good.jsonl", [GOOD])
    return tmp_path


def run(capsys, *argv: str) -> tuple[int, str, str]:
    rc = cli(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


def one_line_error(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


# ---- no command writes over its input or a file it did not create --------------------------
def test_convert_without_output_never_truncates_a_parquet_input(folder, capsys):
    src = folder / "x.parquet"
    assert cli(["data", "convert", str(folder / "good.jsonl"), "-o", str(src), "--quiet"]) == 0
    before = src.read_bytes()
    rc, _, err = run(capsys, "data", "convert", str(src), "--quiet")
    assert rc == 2 and "output is the input file" in one_line_error(err)
    assert src.read_bytes() == before


@pytest.mark.parametrize("argv, message", [
    (["data", "convert", "{d}/good.jsonl", "-o", "{d}/good.jsonl"], "give a path ending in .parquet"),
    (["data", "convert", "{d}/good.jsonl", "-o", "{d}/other.parquet"], "already exists (give --force"),
    (["data", "validate", "{d}/good.jsonl", "--report", "{d}/good.jsonl"], "output is the input file"),
    (["data", "validate", "{d}/good.jsonl", "--report", "{d}/other.parquet", "--force"], None),
    (["data", "sft", "{d}/good.jsonl", "-o", "{d}/other.parquet"], "already exists (give --force"),
])
def test_outputs_never_replace_inputs_or_existing_files(folder, capsys, argv, message):
    (folder / "other.parquet").write_bytes(b"not mine")
    inputs = {p: p.read_bytes() for p in (folder / "good.jsonl", folder / "other.parquet")}
    rc, _, err = run(capsys, *[a.format(d=folder) for a in argv], "--quiet")
    if message is None:  # --force replaces a file that is not an input
        assert rc == 0 and (folder / "other.parquet").read_bytes() != b"not mine"
        return
    assert rc == 2 and message in one_line_error(err)
    assert {p: p.read_bytes() for p in inputs} == inputs


def test_a_failed_conversion_leaves_no_output_and_no_temporary_file(folder, capsys):
    broken = folder / "broken.json"
    broken.write_text('[{"problem": "a"}, {"problem": ')
    rc, _, err = run(capsys, "data", "convert", str(broken), "-o", str(folder / "out.parquet"), "--quiet")
    assert rc == 1 and "truncated JSON" in one_line_error(err)
    assert sorted(p.name for p in folder.iterdir()) == ["broken.json", "c.mp4", "good.jsonl"]


# ---- untagged solutions ----------------------------------------------------------------------------
@pytest.mark.parametrize("solution", ["A", "3", "<answer></answer>"])
def test_validate_rejects_an_untagged_solution(folder, capsys, solution):
    src = jsonl(folder / "v.jsonl", [GOOD, {**GOOD, "solution": solution}])
    rc, out, _ = run(capsys, "data", "validate", str(src), "--workers", "1", "--quiet")
    assert rc == 1 and f"{src}:2: solution" in out and "no <answer>...</answer>" in out
    assert f"{src}:1:" not in out


# ---- empty and record-less files fail at once, naming the file -------------------------------------
@pytest.mark.parametrize("name, text", [
    ("empty.jsonl", ""),
    ("empty.json", ""),
    ("blank.jsonl", "\n\n"),
    ("array.json", "[]"),
    ("array_ws.json", "[\n  ]\n"),
])
def test_validate_fails_on_a_file_without_records(tmp_path, capsys, name, text):
    (tmp_path / name).write_text(text)
    rc, _, err = run(capsys, "data", "validate", str(tmp_path / name), "--quiet")
    assert rc == 1 and f"{tmp_path / name}: no records" in one_line_error(err)


# ---- the doctor -------------------------------------------------------------------------------
def doctor(*argv: str, env: dict | None = None, pythonpath: Path | None = None) -> subprocess.CompletedProcess:
    full = {k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS", "PYTHONPATH")}
    full.update(env or {})
    if pythonpath:
        full["PYTHONPATH"] = str(pythonpath)
    return subprocess.run([sys.executable, "-m", "verl_videorft.cli", "doctor", *argv], capture_output=True,
                          text=True, timeout=600, env=full)


def no_traceback(proc: subprocess.CompletedProcess) -> str:
    assert "Traceback" not in proc.stdout + proc.stderr, proc.stderr[-3000:]
    return proc.stdout


@pytest.fixture(scope="module")
def live_ray_cluster():
    """A Ray instance started by another process; yields its address (the process ends it)."""
    code = ("import sys, ray; ray.init(num_cpus=1, include_dashboard=False, logging_level='ERROR'); "
            "print(ray.get_runtime_context().gcs_address, flush=True); sys.stdin.read()")
    proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        yield proc.stdout.readline().strip()
    finally:
        proc.stdin.close()
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.mark.slow
def test_doctor_names_an_address_nobody_answers_at():
    proc = doctor(env={"RAY_ADDRESS": "127.0.0.1:1"})
    out = no_traceback(proc)
    assert proc.returncode == 1 and "[FAIL] ray worker: cannot reach Ray" in out and "RAY_ADDRESS=127.0.0.1:1" in out


@pytest.mark.slow
def test_doctor_with_ray_address_auto_and_no_cluster():
    from ray._private.services import find_gcs_addresses

    if find_gcs_addresses():
        pytest.skip("a Ray cluster runs on this machine: RAY_ADDRESS=auto would attach to it")
    proc = doctor(env={"RAY_ADDRESS": "auto"})
    out = no_traceback(proc)
    assert proc.returncode == 1 and "[FAIL] ray worker: cannot reach Ray" in out and "running Ray instance" in out


@pytest.mark.slow
def test_doctor_attaches_to_a_running_cluster_and_says_so(live_ray_cluster):
    # an explicit address: Ray loads the cluster's auth token only under RAY_AUTH_MODE=token
    proc = doctor(env={"RAY_ADDRESS": live_ray_cluster, "RAY_AUTH_MODE": "token"})
    out = no_traceback(proc)
    assert proc.returncode == 0, out
    assert f"[ok] ray worker: attached to the running Ray cluster at {live_ray_cluster}" in out


BROKEN = {  # file name -> its text, put on PYTHONPATH ahead of the venv
    "decord": ("decord/__init__.py", "raise OSError('libavcodec.so.58: cannot open shared object file')\n"),
    "no torchvision": ("sitecustomize.py", "import sys; sys.modules['torchvision'] = None\n"),
    # the shim's .pth ran before sitecustomize: undo it, so torchvision's CUDA-only registrations run
    "no shim": ("sitecustomize.py", "import sys; sys.modules.pop('torchvision._meta_registrations', None)\n"),
    "processor": ("sitecustomize.py",
                  "import sys; sys.modules['transformers.models.qwen2_vl.video_processing_qwen2_vl'] = None\n"),
}


@pytest.mark.slow
@pytest.mark.parametrize("broken, expected", [
    ("decord", "[FAIL] decoders: decord is installed but cannot decode a test clip: OSError: libavcodec"),
    ("no torchvision", "[FAIL] torchvision: torchvision is not installed"),
    ("no shim", "[FAIL] torchvision: torchvision does not import"),
    ("processor", "[FAIL] processor: transformers.Qwen2VLVideoProcessor does not import"),
])
def test_doctor_fails_naming_what_the_demo_needs(tmp_path, broken, expected):
    name, text = BROKEN[broken]
    (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / name).write_text(text)
    proc = doctor("--no-ray", pythonpath=tmp_path)
    out = no_traceback(proc)
    assert proc.returncode == 1 and expected in out, out


# ---- a literal <video> / <image> in the text --------------------------------------------------------
@pytest.mark.parametrize("field, text", [
    ("problem", "What is in <video>?"),
    ("problem", "Compare <image> with the clip."),
    ("options", ["A. <video>", "B. none"]),
    ("process", "<think>the <video> shows</think>"),
])
def test_validate_rejects_a_literal_placeholder(folder, capsys, field, text):
    src = jsonl(folder / "v.jsonl", [COT, {**COT, field: text}])
    rc, out, _ = run(capsys, "data", "validate", str(src), "--workers", "1", "--quiet")
    assert rc == 1 and f"{src}:2: field {field!r} holds a literal <" in out and f"{src}:1:" not in out


def test_sft_skips_a_literal_placeholder_naming_file_and_line(folder, capsys):
    src = jsonl(folder / "cot.jsonl", [COT, {**COT, "problem": "What is in <video>?"}])
    rc, _, err = run(capsys, "data", "sft", str(src), "-o", str(folder / "sft.parquet"), "--quiet")
    import pyarrow.parquet as pq

    assert rc == 0 and f"{src}:2: field 'problem' holds a literal <video>" in err
    assert pq.read_table(folder / "sft.parquet").num_rows == 1


# ---- one eval run per output folder -----------------------------------------------------------------
def test_a_second_eval_on_a_held_folder_exits_naming_the_holder(folder, capsys):
    from verl_videorft.evaluation.runner import output_lock

    bench = folder / "eval_mmvu.json"
    bench.write_text(json.dumps([{**GOOD, "problem_type": "multiple choice", "options": ["A. a", "B. b"],
                                  "solution": "<answer>A</answer>"}]))
    argv = ["eval", "--model", str(folder), "--bench-file", f"mmvu={bench}", "--out", str(folder / "run")]
    with output_lock(folder / "run"):
        rc, _, err = run(capsys, *argv)
    assert rc == 2 and f"(pid {os.getpid()}) is writing here" in one_line_error(err)
    assert not (folder / "run" / "results.jsonl").exists()


def test_a_killed_holder_does_not_block_the_next_run(tmp_path):
    from verl_videorft.evaluation.runner import output_lock

    code = ("import sys, time; from verl_videorft.evaluation.runner import output_lock\n"
            f"with output_lock({str(tmp_path)!r}):\n    print('held', flush=True); time.sleep(600)")
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait(timeout=60)
    with output_lock(tmp_path) as lock:
        assert lock.read_text().strip() == str(os.getpid())


# ---- every error one line, exit 2 for usage and 1 for bad data, arguments checked first ----------
@pytest.mark.parametrize("argv, code, message", [
    (["data", "validate", "{d}/missing.jsonl"], 2, "missing.jsonl: record file not found"),
    (["data", "validate", "{d}"], 2, "is a directory, expected a record file"),
    (["data", "validate", "{d}/notes.txt"], 2, "notes.txt: unsupported record file"),
    (["data", "validate", "{d}/truncated.json"], 1, "truncated.json: unbalanced brackets or truncated JSON"),
    (["data", "validate", "{d}/good.jsonl", "--profile", "bogus"], 2, "unknown frame profile 'bogus'"),
    (["data", "budget", "{d}/good.jsonl", "--tokenizer", "/nonexistent"], 2, "/nonexistent: model folder not found"),
    (["data", "validate", "{d}/good.jsonl", "--workers", "0"], 2, "argument --workers: must be >= 1, got 0"),
    (["data", "convert", "{d}/good.jsonl", "{d}/good.jsonl", "-o", "{d}/x.parquet"], 2, "--output takes one input"),
    (["eval", "--out", "{d}/run", "--model", "{d}", "--bench-file", "mmvu={d}"], 2, "is a directory"),
    (["eval", "--out", "{d}/run", "--model", "{d}", "--data-dir", "{d}/nowhere"], 2, "directory not found"),
])
def test_bad_input_is_one_line_with_its_exit_code(folder, argv, code, message):
    (folder / "notes.txt").write_text("hello")
    (folder / "truncated.json").write_text('[{"problem": "a", "path": "c.mp4"}, {"problem": "b", ')
    # a fresh process: argparse errors exit before main() returns
    proc = subprocess.run([sys.executable, "-m", "verl_videorft.cli", *[a.format(d=folder) for a in argv]],
                          capture_output=True, text=True, timeout=300, cwd=folder)
    assert proc.returncode == code and message in one_line_error(proc.stderr), proc.stderr


def test_an_unexpected_error_is_one_line_unless_debug(folder, capsys, monkeypatch):
    import verl_videorft.data.validate as validate

    def boom(*args, **kwargs):
        raise KeyError("frames")

    monkeypatch.setattr(validate, "validate_files", boom)
    rc, _, err = run(capsys, "data", "validate", str(folder / "good.jsonl"), "--quiet")
    assert rc == 1 and one_line_error(err) == "videorft: error: KeyError: 'frames' (--debug shows the traceback)"
    with pytest.raises(KeyError):
        cli(["data", "validate", str(folder / "good.jsonl"), "--quiet", "--debug"])


# ---- one malformed benchmark file among six ------------------------------------------------------
@pytest.mark.slow
def test_one_malformed_benchmark_file_does_not_stop_the_others(folder, tiny_qwen, capsys):
    keys = ("vsibench", "videommmu", "mmvu", "mvbench", "tempcompass", "videomme")
    record = {**GOOD, "problem_type": "multiple choice", "options": ["A. a", "B. b"], "solution": "<answer>A</answer>"}
    for key in keys:
        (folder / f"eval_{key}.json").write_text(json.dumps([record]))
    (folder / "eval_mvbench.json").write_text('[{"problem": "a"}, 3]')
    out = folder / "run"
    rc, _, err = run(capsys, "eval", "--model", str(tiny_qwen), "--data-dir", str(folder), "--out", str(out),
                     "--max-new-tokens", "2", "--temperature", "0", "--no-progress", *TINY_FRAMES)
    assert rc == 1 and f"{folder / 'eval_mvbench.json'}" in err and "(benchmark skipped)" in err
    done = {json.loads(line)["benchmark"] for line in (out / "results.jsonl").read_text().splitlines()}
    assert done == set(keys) - {"mvbench"}


# ---- media is decoded, not just found --------------------------------------------------------------
def bad_media(folder: Path, kind: str, media_dir: Path | None = None) -> str:
    if kind == "corrupt mp4":
        data = (folder / "c.mp4").read_bytes()
        (folder / "bad.mp4").write_bytes(data[:48] + b"\0" * (len(data) - 48))  # header kept, stream zeroed
    elif kind == "text renamed .mp4":
        (folder / "bad.mp4").write_text("this is not a video\n" * 50)
    else:  # junk .png
        (folder / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n" + os.urandom(2000))
        return "bad.png"
    return "bad.mp4"


@pytest.mark.parametrize("kind", ["corrupt mp4", "text renamed .mp4", "junk .png"])
def test_sft_skips_media_that_does_not_decode(folder, capsys, kind):
    name = bad_media(folder, kind)
    bad = {**COT, "path": name, "data_type": "image" if name.endswith(".png") else "video"}
    src = jsonl(folder / "cot.jsonl", [COT, bad])
    rc, _, err = run(capsys, "data", "sft", str(src), "-o", str(folder / "sft.parquet"), "--quiet")
    import pyarrow.parquet as pq

    assert rc == 0 and f"{src}:2:" in err and name in err and f"{src}:1:" not in err
    assert pq.read_table(folder / "sft.parquet").num_rows == 1


@pytest.mark.parametrize("data_type, path, kind", [
    ("image", "c.mp4", "is a video"),
    ("video", "p.png", "is an image"),
])
def test_validate_rejects_a_data_type_that_does_not_match_the_media(folder, capsys, data_type, path, kind):
    from PIL import Image

    Image.new("RGB", (64, 48)).save(folder / "p.png")
    src = jsonl(folder / "v.jsonl", [GOOD, {**GOOD, "data_type": data_type, "path": path}])
    rc, out, _ = run(capsys, "data", "validate", str(src), "--workers", "1", "--quiet")
    assert rc == 1 and f"{src}:2: data_type is {data_type!r} but {path} {kind}" in out


def test_budget_checks_the_eval_profile_too(folder, capsys):
    from verl_videorft.data.budget import vision_tokens
    from verl_videorft.video import PROFILES

    # a limit the train profile meets and the eval profile (32 frames at a larger size) does not
    train = vision_tokens(240, 320, 48, PROFILES["train"])
    rc, out, _ = run(capsys, "data", "budget", str(folder / "good.jsonl"), "--max-prompt-length",
                     str(train + 200), "--workers", "1", "--quiet")
    assert rc == 1 and "with the eval profile > max_prompt_length" in out and "with the train profile" not in out


# ---- a JSON array holding something else than records ---------------------------------------------
@pytest.mark.parametrize("text, line, reason", [
    ('[{"problem": "a"},\n 3,\n {"problem": "b"}]', 2, "a non-object value '3' among the records"),
    ('[{"problem": "a"},\n "b"]', 2, "a non-object value '\"' among the records"),
    ('[{"problem": "a"},\n {"problem": "b"},\n]', 3, "trailing comma after the last record"),
    ('[{"problem": "a"}]\n[{"problem": "b"}]', 2, "a second JSON value after the array (two arrays concatenated?)"),
    ('[{"problem": "a"}\n {"problem": "b"}]', 2, "missing comma between records"),
])
def test_malformed_arrays_are_named_not_dropped(tmp_path, capsys, text, line, reason):
    src = tmp_path / "records.json"
    src.write_text(text)
    rc, _, err = run(capsys, "data", "validate", str(src), "--quiet")
    assert rc == 1 and one_line_error(err) == f"videorft: error: {src}:{line}: {reason}"


def test_one_line_error_helper_rejects_a_traceback():
    # guards the helper the tests above rely on
    with pytest.raises(AssertionError):
        one_line_error("Traceback (most recent call last):\n  File x\nValueError: y\n")
