"""What ``videorft eval`` does, without the argument parsing: find the benchmark files, pin the
settings of a run folder, hold the folder's lock, run, and write the report.

    >>> settings = EvalSettings(model="ckpt/", out=Path("runs/ckpt"), files=benchmark_files("Evaluation/"))
    ...                                                                   # doctest: +SKIP
    >>> markdown, unreadable = evaluate(settings)                         # doctest: +SKIP

One benchmark file that cannot be read is reported (``unreadable``) and the others still run.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from verl_videorft.errors import UsageError
from verl_videorft.evaluation.benchmarks import EvalSample, find_benchmark_files, load_benchmark, resolve_benchmark_key
from verl_videorft.evaluation.runner import output_lock, run_eval
from verl_videorft.prompts import DEFAULT_PROMPT_STYLE, RecordError

# Settings that change the numbers: a resumed run must use the same ones.
PINNED = ("model", "backend", "profile", "generation", "prompt_style", "frame_records", "training_prompt",
          "frame_control")


def benchmark_key(name: str, allow_custom: bool = False) -> str:
    """:func:`resolve_benchmark_key`, an unknown name being a usage error."""
    try:
        return resolve_benchmark_key(name, allow_custom=allow_custom)
    except ValueError as e:
        raise UsageError(str(e)) from None


def benchmark_files(data_dir: str | None = None, bench_files: list[str] = (), benchmarks: str | None = None
                    ) -> dict[str, Path]:
    """``{key: file}`` from a folder of ``eval_<key>.json`` and/or explicit ``KEY=PATH`` specs,
    restricted to the comma-separated ``benchmarks`` when given (raises :class:`UsageError`)."""
    keys = [benchmark_key(k) for k in benchmarks.split(",")] if benchmarks else None
    explicit = {}
    for spec in bench_files:
        if "=" not in spec:
            raise UsageError(f"--bench-file expects KEY=PATH, got {spec!r}")
        key, path = spec.split("=", 1)
        if not Path(path).is_file():
            raise UsageError(f"--bench-file {spec}: " + ("is a directory" if Path(path).is_dir() else "file not found"))
        explicit[benchmark_key(key, allow_custom=True)] = Path(path)  # a file of your own may name its own key
    files: dict[str, Path] = {}
    wanted = [k for k in keys if k not in explicit] if keys else None
    if data_dir and (wanted is None or wanted):
        try:
            files.update(find_benchmark_files(data_dir, wanted))
        except FileNotFoundError as e:
            raise UsageError(str(e)) from None
    files.update(explicit)
    if keys:
        files = {k: v for k, v in files.items() if k in keys}
    if not files:
        raise UsageError("no benchmark files: give --data-dir and/or --bench-file KEY=PATH")
    return files


def eval_profile(profile: str = "eval", *, nframes: int | None = None, min_pixels: int | None = None,
                 max_pixels: int | None = None, pass_fps: bool = True):
    """The named frame profile with the given fields replaced.

    >>> eval_profile(nframes=8).nframes, eval_profile().nframes
    (8, 32)
    """
    from verl_videorft.video import resolve_profile

    over: dict[str, Any] = {k: v for k, v in (("nframes", nframes), ("min_pixels", min_pixels),
                                              ("max_pixels", max_pixels)) if v is not None}
    if not pass_fps:
        over["pass_fps"] = False
    return dataclasses.replace(resolve_profile(profile), **over)


@dataclasses.dataclass
class EvalSettings:
    model: str
    out: Path
    files: dict[str, Path]
    model_name: str | None = None
    backend: str = "hf"
    backend_kwargs: dict[str, Any] = dataclasses.field(default_factory=dict)
    profile: Any = "eval"
    generation: Any = None  # backends.GenerationConfig; None = the released evaluation's
    prompt_style: str = DEFAULT_PROMPT_STYLE
    frame_records: str = "frames"
    training_prompt: bool = False  # the training template's wording (benchmarks.make_sample)
    frame_control: str | None = None  # "blank" | "shuffle": controls (evaluation.controls)
    media_root: str | None = None
    limit: int | None = None
    batch_size: int | None = None
    prepare_workers: int = 4
    retry_failed: bool = False
    force: bool = False
    progress: bool = True
    ray: Any = None  # offline.ray_data.RayOptions: generate on Ray actors (results are the same)

    def label(self) -> str:
        return self.model_name or Path(self.model).name

    def run_config(self) -> dict[str, Any]:
        from verl_videorft.video import resolve_profile

        return {"model": self.model, "model_name": self.label(), "backend": self.backend,
                "profile": resolve_profile(self.profile).to_dict(), "generation": dataclasses.asdict(self.generation),
                "prompt_style": self.prompt_style, "frame_records": self.frame_records,
                "training_prompt": self.training_prompt, "frame_control": self.frame_control,
                "benchmarks": {k: str(v) for k, v in self.files.items()}, "media_root": self.media_root}


def check_run_config(out: Path, config: dict, force: bool) -> None:
    """Refuse to resume a folder whose pinned settings differ (unless ``force``); then record ``config``."""
    path = out / "run_config.json"
    if path.exists() and not force:
        old = json.loads(path.read_text())
        diff = [k for k in PINNED if old.get(k) != config.get(k)]
        if diff:
            raise UsageError(f"{path}: settings {diff} differ from the earlier run in this folder; use a new "
                             "--out, or --force to mix them")
    out.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(config, indent=2))


def load_samples(settings: EvalSettings) -> tuple[list[EvalSample], dict[str, str]]:
    """Every benchmark's samples, and ``{file: why it cannot be read}`` for the files skipped."""
    samples, unreadable = [], {}
    for key, path in settings.files.items():
        try:
            samples += load_benchmark(path, key, media_root=settings.media_root, limit=settings.limit,
                                      prompt_style=settings.prompt_style, frame_records=settings.frame_records,
                                      training_prompt=settings.training_prompt)
        except (RecordError, OSError, ValueError) as e:  # one bad file: the other benchmarks still run
            text = " ".join(str(e).split())
            unreadable[str(path)] = text.removeprefix(f"{Path(path).resolve()}: ").removeprefix(f"{path}: ")
    return samples, unreadable


def write_report(out: Path, model_name: str) -> str:
    """Write summary.json, report.md and scores.png from ``out/results.jsonl``; return the markdown."""
    from verl_videorft.evaluation.report import bar_chart, markdown_report, summarize
    from verl_videorft.evaluation.runner import read_results

    summary = summarize(read_results(out / "results.jsonl"))
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    md = markdown_report(summary, model=model_name)
    (out / "report.md").write_text(md)
    bar_chart(summary, out / "scores.png", model=model_name)
    return md


def rebuild_report(out: Path, model_name: str | None = None) -> str:
    """``--report-only``: the report again from ``results.jsonl``, under the folder's lock."""
    if not (out / "results.jsonl").is_file():
        raise UsageError(f"{out}: no results.jsonl to report on")
    config = out / "run_config.json"
    if model_name is None:
        model_name = json.loads(config.read_text()).get("model_name") if config.exists() else None
    with output_lock(out):
        return write_report(out, model_name or "this run")


def evaluate(settings: EvalSettings) -> tuple[str, dict[str, str]]:
    """Run (or resume) the evaluation under the folder's lock; ``(report markdown, unreadable files)``."""
    from verl_videorft.evaluation.backends import GenerationConfig

    settings.generation = settings.generation or GenerationConfig()
    with output_lock(settings.out):
        check_run_config(settings.out, settings.run_config(), settings.force)
        samples, unreadable = load_samples(settings)
        if not samples:
            raise RecordError(f"no benchmark file could be read: {unreadable}")
        run_samples(settings, samples)
        return write_report(settings.out, settings.label()), unreadable


def run_samples(settings: EvalSettings, samples: list[EvalSample]) -> None:
    """Generate and score the samples not yet in ``results.jsonl``: here, or on Ray actors."""
    from verl_videorft.video import resolve_profile

    profile = resolve_profile(settings.profile)
    batch_size = settings.batch_size or (4 if settings.backend == "hf" else 64)
    common = dict(batch_size=batch_size, retry_failed=settings.retry_failed, progress=settings.progress,
                  prepare_workers=settings.prepare_workers)
    backend_kwargs = {**settings.backend_kwargs, "frame_control": settings.frame_control}
    if settings.ray is not None:
        from verl_videorft.evaluation.ray_eval import run_eval_ray

        run_eval_ray(samples, settings.out / "results.jsonl", backend=settings.backend, model=settings.model,
                     profile=profile, gen=settings.generation, backend_kwargs=backend_kwargs,
                     ray=settings.ray, **common)
        return
    from verl_videorft.evaluation.backends import make_backend

    backend = make_backend(settings.backend, settings.model, profile=profile, gen=settings.generation,
                           **backend_kwargs)
    run_eval(samples, backend, settings.out / "results.jsonl", **common)
