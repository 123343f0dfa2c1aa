"""Video tasks a tiny model can learn on a CPU, each answerable only from the frames (``make demo``).

Three task types, one per problem type, so accuracy per problem type is accuracy per task:

- ``free-form`` (*colour*): one shape; "What colour is the shape?" → ``red``. Any frame answers it.
- ``numerical`` (*count*): 1-3 shapes of different colours; "How many shapes ...?" → ``2``.
- ``multiple choice`` (*order*): one shape shows in the first half of the clip, another in the second
  half; "Which colour appears first? A. red B. blue C. green D. yellow" (options in the problem
  text). Only the **order** of the frames answers it: every frame shows exactly one of the two
  shapes and each half has the same number of frames, so a single frame, or the frames in a random
  order, carry no information on which came first (no position or size cue either: both shapes
  are drawn from the same ranges).

Answers are balanced within each task (cycled, then shuffled), so a model that ignores the video
scores at most the chance level on each task whatever constant it answers. Every record carries
a CoT ``process`` (a short think text: a lead-in sentence, which the semantic reward drops, then
what the frames show) and the clip's ``caption`` (what the frames show, for training the semantic
reward's encoder: :mod:`verl_videorft.rewards.contrastive`).

    >>> paths = make_task_set("/tmp/tasks", n_train=96, n_test=210)      # doctest: +SKIP
    >>> sorted(paths)                                                     # doctest: +SKIP
    ['meta', 'test', 'train']

Deterministic for a seed. Draw the frames at the size the frame profile asks for (the demo: 56 × 56,
two 28-pixel patches a side), so the sampler never resizes them.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import numpy as np

from verl_videorft.data.demo_set import BACKGROUND, COLOURS, draw_shape, write_video

TASK_COLOURS = ("red", "blue", "green", "yellow")
SHAPES = ("circle", "square")
COUNTS = (1, 2, 3)
LETTERS = "ABCD"
# task name → problem type (one each, see the module doc)
TASKS = {"colour": "free-form", "count": "numerical", "order": "multiple choice"}
ORDER_TASK = "order"
NUMBER_WORDS = {1: "one", 2: "two", 3: "three"}


def answer_space(task: str) -> int:
    """How many answers uniform guessing picks from (the chance level of a task is 1 / this)."""
    return {"colour": len(TASK_COLOURS), "count": len(COUNTS), "order": len(TASK_COLOURS)}[task]


def _cells(rng: random.Random, k: int, size: int) -> list[tuple[float, float]]:
    """``k`` distinct quadrants of the frame, jittered: shapes never overlap or touch."""
    half, jitter = size / 2, size / 28
    return [((c % 2 + 0.5) * half + rng.uniform(-jitter, jitter), (c // 2 + 0.5) * half + rng.uniform(-jitter, jitter))
            for c in rng.sample(range(4), k)]


def _shape(rng: random.Random, colour: str, size: int, centre: tuple[float, float] | None = None) -> dict[str, Any]:
    """A shape in a quadrant (radius 15-20 % of the side), or, without ``centre``, a big one (28-36 %)
    near the middle: a colour then fills most of the frame, which a tiny model learns to read fast."""
    if centre is None:
        centre = (size / 2 + rng.uniform(-size / 10, size / 10), size / 2 + rng.uniform(-size / 10, size / 10))
        radius = size * rng.uniform(0.28, 0.36)
    else:
        radius = size * rng.uniform(0.15, 0.2)
    return {"colour": colour, "shape": rng.choice(SHAPES), "radius": round(radius), "xy": centre}


def _words(obj: dict) -> str:
    return f"a {obj['colour']} {obj['shape']}"


def _scene(task: str, answer: int, rng: random.Random, size: int) -> dict[str, Any]:
    """Shapes per frame half (``first``, ``second``) for a task whose answer index is ``answer``."""
    if task == "colour":
        obj = _shape(rng, TASK_COLOURS[answer], size)
        return {"first": [obj], "second": [obj]}
    if task == "count":
        k = COUNTS[answer]
        colours = rng.sample(TASK_COLOURS, k)
        objs = [_shape(rng, c, size, xy) for c, xy in zip(colours, _cells(rng, k, size))]
        return {"first": objs, "second": objs}
    first = TASK_COLOURS[answer]
    second = rng.choice([c for c in TASK_COLOURS if c != first])
    return {"first": [_shape(rng, first, size)], "second": [_shape(rng, second, size)]}


def render(scene: dict[str, Any], *, size: int, frames: int) -> np.ndarray:
    """uint8 RGB ``[frames, size, size, 3]``: the ``first`` shapes, then the ``second`` ones."""
    out = np.full((frames, size, size, 3), BACKGROUND, dtype=np.uint8)
    for t in range(frames):
        for obj in scene["first" if t < frames // 2 else "second"]:
            draw_shape(out[t], obj["shape"], COLOURS[obj["colour"]], *obj["xy"], obj["radius"])
    return out


def question(task: str, scene: dict[str, Any]) -> dict[str, Any]:
    """Problem, answer, and the caption of what the frames show (the think text's second sentence)."""
    first, second = scene["first"], scene["second"]
    if task == "colour":
        obj = first[0]
        return {"problem": "What colour is the shape in the video?", "answer": obj["colour"],
                "lead": "Let me look at the shape.", "caption": f"I see {_words(obj)}."}
    if task == "count":
        k = len(first)
        return {"problem": "How many shapes are in the video?", "answer": str(k), "lead": "Let me count the shapes.",
                "caption": f"I see {' and '.join(_words(o) for o in first)}, {NUMBER_WORDS[k]} in total."}
    a, b = first[0], second[0]
    # The options live in the problem text, so every prompt style shows them once (prompts.question_text).
    options = " ".join(f"{LETTERS[i]}. {c}" for i, c in enumerate(TASK_COLOURS))
    return {"problem": f"Which colour appears first in the video? {options}",
            "answer": LETTERS[TASK_COLOURS.index(a["colour"])], "lead": "Let me watch the order.",
            "caption": f"First {_words(a)}, then {_words(b)}."}


def vocabulary() -> list[str]:
    """Every question, lead-in and caption wording of the tasks: extra text for a tiny tokenizer
    (``testing.build_tiny_tokenizer(extra_text=...)``), so each task word is one token."""
    rng = random.Random(0)
    texts = []
    for task in TASKS:
        for answer in range(answer_space(task)):
            q = question(task, _scene(task, answer, rng, 112))
            texts += [q["problem"], f"{q['lead']} {q['caption']}", f"<answer>{q['answer']}</answer>"]
    objects = [f"a {c} {s}" for c in TASK_COLOURS for s in SHAPES]
    return texts + [" and ".join(objects), ", ".join(f"{n} in total" for n in NUMBER_WORDS.values())]


def _record(pid: str, task: str, q: dict[str, Any], rel: str) -> dict[str, Any]:
    rec = {"problem_id": pid, "problem": q["problem"], "data_type": "video", "problem_type": TASKS[task],
           "solution": f"<answer>{q['answer']}</answer>", "process": f"<think>{q['lead']} {q['caption']}</think>",
           "path": "./" + rel, "data_source": f"videorft-demo-{task}", "task": task, "caption": q["caption"]}
    return rec


def make_split(out: Path, name: str, n: int, rng: random.Random, *, tasks: tuple[str, ...], size: int,
               frames: int, fps: int) -> list[dict[str, Any]]:
    """``n`` records, tasks in turn, answers balanced within each task; clips under ``out/videos``."""
    plan = [(tasks[i % len(tasks)], i // len(tasks)) for i in range(n)]
    rng.shuffle(plan)
    records = []
    for i, (task, k) in enumerate(plan):
        scene = _scene(task, k % answer_space(task), rng, size)
        rel = f"videos/{name}-{i:04d}.mp4"
        write_video(render(scene, size=size, frames=frames), out / rel, fps)
        records.append(_record(f"{name}-{i:04d}", task, question(task, scene), rel))
    return records


def write_jsonl(records: list[dict[str, Any]], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def chance(records: list[dict[str, Any]]) -> float:
    """Expected accuracy of uniform guessing over each record's answer space."""
    return float(np.mean([1.0 / answer_space(r["task"]) for r in records])) if records else 0.0


def make_task_set(out_dir: str | Path, *, n_train: int = 96, n_test: int = 210, seed: int = 0,
                  tasks: tuple[str, ...] = tuple(TASKS), size: int = 56, frames: int = 8,
                  fps: int = 4) -> dict[str, Path]:
    """Write ``train.jsonl``, ``test.jsonl`` (held out: other clips, same tasks) and ``meta.json``.

    ``meta.json`` holds the tasks, their problem types, the test set's chance level and which task
    needs the frame order. Returns ``{"train", "test", "meta"}`` paths.
    """
    if frames % 2:
        raise ValueError(f"frames must be even (two equal halves for the order task), got {frames}")
    out = Path(out_dir).resolve()
    rng = random.Random(seed)
    kw = dict(tasks=tasks, size=size, frames=frames, fps=fps)
    train = make_split(out, "train", n_train, rng, **kw)
    test = make_split(out, "test", n_test, rng, **kw)
    meta = {"tasks": {t: TASKS[t] for t in tasks}, "order_task": ORDER_TASK, "chance": chance(test),
            "seed": seed, "size": size, "frames": frames, "fps": fps}
    (out / "meta.json").write_text(json.dumps(meta, indent=2))
    return {"train": write_jsonl(train, out / "train.jsonl"), "test": write_jsonl(test, out / "test.jsonl"),
            "meta": out / "meta.json"}
