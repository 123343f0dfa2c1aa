"""Resumable evaluation loop: one JSONL line per sample, written as it goes.

    >>> results = run_eval(samples, backend, "out/results.jsonl", batch_size=8)   # doctest: +SKIP
    >>> results["mmvu/0"]["score"]                                                # doctest: +SKIP
    1.0

A run that dies (a crash, a kill, a lost node) leaves every finished sample on disk; running the
same command again reads the file, skips what is done and generates only the rest. A torn last
line (the process died mid-write) is ignored and that sample is redone.

Failures are per sample: a record that is malformed, a video that does not decode, or a sample
whose generation raises is written as ``status: "error"`` with the reason, scores 0, and is
listed in the report; the rest of its batch goes on (a failed batch is retried one by one).
Failed samples are not retried on resume unless ``retry_failed=True``.

One run per output folder: :func:`output_lock` holds an advisory lock on ``<folder>/.videorft-eval.lock``
(the kernel drops it when the holder dies, even by ``kill -9``), so a second run on the same folder
stops naming the holder's pid instead of evaluating every sample a second time.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Protocol

from verl_videorft.errors import UsageError
from verl_videorft.evaluation.benchmarks import EvalSample
from verl_videorft.evaluation.scoring import eval_answer, score_sample


class Backend(Protocol):
    """What the runner needs from a model backend (see :mod:`verl_videorft.evaluation.backends`).

    ``prepare`` does the per-sample work that can fail on its own (decoding the video, building
    the prompt); ``generate`` runs a batch of prepared inputs and returns one text per input.
    """

    name: str

    def prepare(self, sample: EvalSample) -> Any: ...

    def generate(self, batch: Sequence[Any]) -> list[str]: ...


LOCK_NAME = ".videorft-eval.lock"


class OutputLockedError(UsageError):
    """Another process holds the output folder."""


@contextlib.contextmanager
def output_lock(folder: str | Path) -> Iterator[Path]:
    """Hold ``folder``'s lock for the block; raise :class:`OutputLockedError` naming the holder's pid."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LOCK_NAME
    with path.open("a+") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            holder = f.read().strip() or "unknown"
            raise OutputLockedError(f"{folder}: another videorft eval (pid {holder}) is writing here; wait for "
                                    "it to finish or give another --out") from None
        f.seek(0)
        f.truncate()
        f.write(f"{os.getpid()}\n")
        f.flush()
        try:
            yield path
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def read_results(path: str | Path) -> dict[str, dict]:
    """The latest line per ``uid`` of a results JSONL; torn or non-JSON lines are skipped."""
    results: dict[str, dict] = {}
    p = Path(path)
    if not p.exists():
        return results
    with p.open(encoding="utf-8") as f:
        for line in f:
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line cut short by a crash: that sample is simply redone
            if isinstance(row, dict) and "uid" in row:
                results[row["uid"]] = row
    return results


def _check_same_file(samples: Iterable[EvalSample], done: dict[str, dict], path: Path) -> None:
    # A uid is "<benchmark>/<index>": if the record at that index changed, resuming would mix runs.
    for s in samples:
        row = done.get(s.uid)
        if row is not None and str(row.get("problem_id")) != str(s.problem_id):
            raise ValueError(
                f"{path}: {s.uid} was written for problem_id {row.get('problem_id')!r} but the benchmark "
                f"file now has {s.problem_id!r} at that index; use a new output folder"
            )


def _row(sample: EvalSample, *, output: str | None = None, error: str | None = None,
         backend: str = "", elapsed: float = 0.0) -> dict:
    row = {
        "uid": sample.uid, "benchmark": sample.benchmark, "index": sample.index,
        "problem_id": sample.problem_id, "problem_type": sample.problem_type,
        "path": sample.media_path, "solution": sample.solution, "backend": backend,
        "elapsed_s": round(elapsed, 3),
    }
    if error is None:
        row.update(status="ok", output=output, prediction=eval_answer(output or ""),
                   score=score_sample(output or "", sample.solution, sample.problem_type), error=None)
    else:
        row.update(status="error", output=None, prediction=None, score=0.0, error=error)
    return row


def _error_text(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:2000]


class _Writer:
    """Appends rows and makes each batch durable before moving on (flush + fsync)."""

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        torn = False
        if path.exists() and path.stat().st_size > 0:
            with path.open("rb") as f:
                f.seek(-1, os.SEEK_END)
                torn = f.read(1) != b"\n"
        self._f = path.open("a", encoding="utf-8")
        if torn:  # end the torn line, so the next row starts on a line of its own
            self._f.write("\n")

    def write(self, rows: list[dict]) -> None:
        for row in rows:
            self._f.write(json.dumps(row, ensure_ascii=False) + "\n")
        self._f.flush()
        os.fsync(self._f.fileno())

    def close(self) -> None:
        self._f.close()


def _prepare(backend: Backend, s: EvalSample) -> tuple[Any, str | None]:
    if s.error:
        return None, s.error
    try:
        return backend.prepare(s), None
    except Exception as e:  # a bad video fails alone
        return None, _error_text(e)


def run_batch(batch: list[EvalSample], backend: Backend, pool: ThreadPoolExecutor | None = None) -> list[dict]:
    """The rows of one batch: each sample prepared alone (``pool`` threads), generated together."""
    rows: dict[str, dict] = {}
    ready: list[tuple[EvalSample, Any]] = []
    # Decoding releases the GIL (decord/PyAV), so a few threads keep a GPU backend fed.
    prepared = pool.map(lambda s: _prepare(backend, s), batch) if pool else (_prepare(backend, s) for s in batch)
    for s, (p, err) in zip(batch, prepared):
        if err is not None:
            rows[s.uid] = _row(s, error=err, backend=backend.name)
        else:
            ready.append((s, p))
    if ready:
        t0 = time.perf_counter()
        try:
            outputs = backend.generate([p for _, p in ready])
            if len(outputs) != len(ready):
                raise RuntimeError(f"backend returned {len(outputs)} outputs for {len(ready)} inputs")
            per = (time.perf_counter() - t0) / len(ready)
            for (s, _), out in zip(ready, outputs):
                rows[s.uid] = _row(s, output=out, backend=backend.name, elapsed=per)
        except Exception:
            # Never fail a whole batch for one sample: redo each alone to find the culprit.
            for s, p in ready:
                t1 = time.perf_counter()
                try:
                    (out,) = backend.generate([p])
                    rows[s.uid] = _row(s, output=out, backend=backend.name, elapsed=time.perf_counter() - t1)
                except Exception as e:
                    rows[s.uid] = _row(s, error=_error_text(e), backend=backend.name)
    return [rows[s.uid] for s in batch]


Write = Callable[[list[dict]], None]


def run_rows(samples: Sequence[EvalSample], out_path: str | Path, evaluate: Callable[[list[EvalSample], Write], None],
             *, retry_failed: bool = False, progress: bool = True, desc: str = "eval") -> dict[str, dict]:
    """The resumable part of a run, whoever generates: read ``out_path``, call ``evaluate(pending, write)``
    with the samples still to do, and append (fsynced) each list of rows it passes to ``write``.
    Returns all rows by uid. Used by :func:`run_eval` and by ``videorft eval --ray``
    (:mod:`verl_videorft.evaluation.ray_eval`)."""
    from tqdm.auto import tqdm

    path = Path(out_path)
    done = read_results(path)
    _check_same_file(samples, done, path)
    pending = [s for s in samples
               if s.uid not in done or (retry_failed and done[s.uid].get("status") != "ok")]
    bar = tqdm(total=len(samples), initial=len(samples) - len(pending), disable=not progress, desc=desc,
               unit="sample")
    writer = _Writer(path)

    def write(rows: list[dict]) -> None:
        writer.write(rows)
        done.update((r["uid"], r) for r in rows)
        bar.update(len(rows))

    try:
        if pending:
            evaluate(pending, write)
    finally:
        writer.close()
        bar.close()
    return done


def run_eval(samples: Sequence[EvalSample], backend: Backend, out_path: str | Path, *, batch_size: int = 8,
             retry_failed: bool = False, progress: bool = True, prepare_workers: int = 1) -> dict[str, dict]:
    """Evaluate the samples not yet in ``out_path`` and append their rows; return all rows by uid.

    ``prepare_workers`` threads decode the videos of a batch in parallel (1 = in this thread).

    Raises ``ValueError`` when ``out_path`` holds rows of a different benchmark file (see
    :func:`_check_same_file`). Exceptions that are not ``Exception`` (KeyboardInterrupt, a kill)
    stop the run with everything finished so far on disk.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    pool = ThreadPoolExecutor(prepare_workers, thread_name_prefix="eval-prepare") if prepare_workers > 1 else None

    def here(pending: list[EvalSample], write: Write) -> None:
        for i in range(0, len(pending), batch_size):
            write(run_batch(pending[i:i + batch_size], backend, pool))

    try:
        return run_rows(samples, out_path, here, retry_failed=retry_failed, progress=progress,
                        desc=f"eval ({backend.name})")
    finally:
        if pool:
            pool.shutdown(wait=False, cancel_futures=True)
