"""Synthetic video-reasoning demo set: moving coloured shapes, questions whose answers follow from the video.

Each video shows 2-4 coloured shapes on a grey background; exactly one moves left, the others move
right, up or down; a word is drawn on every frame. Questions cover all five problem types:

- numerical: how many shapes are there;
- multiple choice: which colour moves to the left;
- OCR: which word is written on the frames;
- free-form: describe the motion;
- regression: how many pixels the left-moving shape travels between the first and the last frame.

A few image samples (one still scene: count shapes / colour of the largest one) are mixed in. Records
use the VideoRFT keys (``problem_id``, ``problem``, ``data_type``, ``problem_type``, ``options``,
``solution``, ``process``, ``path`` relative to the output directory, ``data_source``), so the same
files feed RL (``VideoRFTDataset``), SFT (``verl_videorft.data.sft``) and the validator.

    python -m verl_videorft.data.demo_set --out data/demo --train 40 --val 10 --seed 0 --parquet

or, from Python::

    >>> info = make_demo_data("/tmp/demo", n_train=8, n_val=2)          # doctest: +SKIP
    >>> info["train"]                                                   # doctest: +SKIP
    PosixPath('/tmp/demo/train.jsonl')

Deterministic for a given seed (same records, same pixels); a few seconds for the default size.
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path
from typing import Any

import numpy as np

COLOURS = {"red": (220, 40, 40), "blue": (40, 80, 230), "green": (40, 180, 60), "yellow": (235, 210, 40),
           "purple": (150, 60, 200)}
SHAPES = ("circle", "square")
WORDS = ("CAT", "SUN", "BOX", "RUN", "SKY", "MAP", "RED", "TOP")
MOTIONS = ("right", "up", "down")
BACKGROUND = 128
TYPES = ("numerical", "multiple choice", "OCR", "free-form", "regression")


def draw_shape(frame: np.ndarray, shape: str, colour: tuple, cx: float, cy: float, r: int) -> None:
    h, w = frame.shape[:2]
    yy, xx = np.ogrid[:h, :w]
    if shape == "circle":
        mask = (xx - cx) ** 2 + (yy - cy) ** 2 <= r * r
    else:
        mask = (np.abs(xx - cx) <= r) & (np.abs(yy - cy) <= r)
    frame[mask] = colour


def _draw_text(frame: np.ndarray, word: str) -> np.ndarray:
    from PIL import Image, ImageDraw, ImageFont

    img = Image.fromarray(frame)
    draw = ImageDraw.Draw(img)
    try:
        font = ImageFont.load_default(size=18)
    except TypeError:  # Pillow < 10.1: fixed-size bitmap font
        font = ImageFont.load_default()
    draw.text((6, 4), word, fill=(255, 255, 255), font=font)
    return np.asarray(img)


def _scene(rng: random.Random) -> dict[str, Any]:
    """Random shapes: the first one moves left, the others right / up / down."""
    n = rng.randint(2, 4)
    colours = rng.sample(list(COLOURS), n)
    radii = rng.sample(range(8, 15), n)  # distinct, so "the largest shape" is well defined
    objs = []
    for k, colour in enumerate(colours):
        objs.append({"colour": colour, "shape": rng.choice(SHAPES), "radius": radii[k],
                     "motion": "left" if k == 0 else rng.choice(MOTIONS), "speed": rng.randint(2, 4),
                     "lane": k})
    return {"objects": objs, "word": rng.choice(WORDS)}


def _positions(obj: dict, t: int, n_lanes: int, w: int, h: int, frames: int) -> tuple[float, float]:
    lane_y = h * (obj["lane"] + 1) / (n_lanes + 1)
    travel = obj["speed"] * (frames - 1)
    if obj["motion"] == "left":
        return w / 2 + travel / 2 - obj["speed"] * t, lane_y
    if obj["motion"] == "right":
        return w / 2 - travel / 2 + obj["speed"] * t, lane_y
    x = w * (obj["lane"] + 1) / (n_lanes + 1)
    dy = -obj["speed"] * t if obj["motion"] == "up" else obj["speed"] * t  # image y grows downwards
    start = h / 2 + 0.15 * obj["speed"] * (frames - 1) * (1 if obj["motion"] == "up" else -1)
    return x, start + dy * 0.3


def render_frames(scene: dict, *, width: int, height: int, frames: int) -> np.ndarray:
    """uint8 RGB ``[frames, height, width, 3]`` of a scene."""
    out = np.empty((frames, height, width, 3), dtype=np.uint8)
    objs = scene["objects"]
    for t in range(frames):
        frame = np.full((height, width, 3), BACKGROUND, dtype=np.uint8)
        for obj in objs:
            cx, cy = _positions(obj, t, len(objs), width, height, frames)
            draw_shape(frame, obj["shape"], COLOURS[obj["colour"]], cx, cy, obj["radius"])
        out[t] = _draw_text(frame, scene["word"])
    return out


def write_video(frames: np.ndarray, path: Path, fps: int) -> None:
    """Encode frames (H.264 when the PyAV build has it, else MPEG-4 part 2) with the one clip writer."""
    from verl_videorft.video.writer import write_clip

    write_clip(path, frames, fps=fps, codec="auto")


def _letter(k: int) -> str:
    return "ABCDE"[k]


def _video_question(scene: dict, ptype: str, rng: random.Random, frames: int) -> dict[str, Any]:
    objs = scene["objects"]
    mover = objs[0]
    desc = " and ".join(f"a {o['colour']} {o['shape']} moves {o['motion']}" for o in objs)
    if ptype == "numerical":
        n = len(objs)
        return {"problem": "How many coloured shapes appear in the video?",
                "answer": str(n),
                "think": f"Let me count the shapes I see: {desc}. That makes {n} shapes."}
    if ptype == "multiple choice":
        choices = [mover["colour"]] + rng.sample([c for c in COLOURS if c != mover["colour"]], 3)
        rng.shuffle(choices)
        k = choices.index(mover["colour"])
        return {"problem": "Which colour is the shape that moves to the left?",
                "options": [f"{_letter(i)}. {c}" for i, c in enumerate(choices)],
                "answer": _letter(k),
                "think": f"Let me watch the motion: {desc}. The {mover['colour']} one goes left, "
                         f"which is option {_letter(k)}."}
    if ptype == "OCR":
        return {"problem": "What word is written in the top-left corner of the video?",
                "answer": scene["word"],
                "think": f"Hmm, the white letters in the corner read {scene['word']}."}
    if ptype == "free-form":
        return {"problem": "Describe how the shapes move in the video.",
                "answer": desc[0].upper() + desc[1:] + ".",
                "think": f"Let me follow each shape over time. I see that {desc}."}
    dist = mover["speed"] * (frames - 1)
    return {"problem": f"How many pixels does the {mover['colour']} {mover['shape']} move to the left "
                       f"between the first and the last frame?",
            "answer": str(dist),
            "think": f"The {mover['colour']} {mover['shape']} moves {mover['speed']} pixels per frame over "
                     f"{frames - 1} frame steps, so {mover['speed']} x {frames - 1} = {dist} pixels."}


def _image_question(scene: dict, k: int) -> dict[str, Any]:
    objs = scene["objects"]
    if k % 2 == 0:
        return {"problem_type": "numerical", "problem": "How many coloured shapes are in the image?",
                "answer": str(len(objs)),
                "think": f"Let me count: {', '.join(o['colour'] + ' ' + o['shape'] for o in objs)}; "
                         f"{len(objs)} in total."}
    largest = max(objs, key=lambda o: o["radius"])  # radii are distinct per scene
    choices = sorted([largest["colour"]] + [c for c in COLOURS if c != largest["colour"]][:3])
    idx = choices.index(largest["colour"])
    return {"problem_type": "multiple choice", "problem": "What colour is the largest shape?",
            "options": [f"{_letter(i)}. {c}" for i, c in enumerate(choices)], "answer": _letter(idx),
            "think": f"Comparing sizes, the {largest['colour']} {largest['shape']} is the biggest, "
                     f"option {_letter(idx)}."}


def _record(pid: str, data_type: str, ptype: str, q: dict, path: str) -> dict[str, Any]:
    rec = {"problem_id": pid, "problem": q["problem"], "data_type": data_type, "problem_type": ptype,
           "solution": f"<answer>{q['answer']}</answer>", "process": f"<think>{q['think']}</think>",
           "path": path, "data_source": "videorft-demo"}
    if "options" in q:
        rec["options"] = q["options"]
    return rec


def make_split(out: Path, name: str, n: int, rng: random.Random, *, width: int, height: int, frames: int,
               fps: int, image_every: int) -> Path:
    """Render ``n`` samples (every ``image_every``-th an image) and write ``<name>.jsonl``."""
    from PIL import Image

    records = []
    for i in range(n):
        scene = _scene(rng)
        pid = f"{name}-{i:04d}"
        if image_every and i % image_every == image_every - 1:
            still = render_frames({**scene, "word": ""}, width=width, height=height, frames=1)[0]
            rel = f"images/{pid}.png"
            (out / "images").mkdir(parents=True, exist_ok=True)
            Image.fromarray(still).save(out / rel)
            q = _image_question(scene, i)
            records.append(_record(pid, "image", q.pop("problem_type"), q, "./" + rel))
            continue
        ptype = TYPES[i % len(TYPES)]
        rel = f"videos/{pid}.mp4"
        write_video(render_frames(scene, width=width, height=height, frames=frames), out / rel, fps)
        records.append(_record(pid, "video", ptype, _video_question(scene, ptype, rng, frames), "./" + rel))
    path = out / f"{name}.jsonl"
    with open(path, "w") as f:
        for rec in records:
            f.write(json.dumps(rec) + "\n")
    return path


def make_demo_data(out_dir: str | Path, *, n_train: int = 40, n_val: int = 10, seed: int = 0,
                   width: int = 224, height: int = 168, frames: int = 24, fps: int = 8,
                   image_every: int = 6, parquet: bool = False) -> dict[str, Path]:
    """Write ``train.jsonl`` / ``val.jsonl`` (+ ``videos/``, ``images/``, optional ``*.parquet``) under ``out_dir``.

    Returns the written paths: ``{"train": ..., "val": ..., "train_parquet": ..., ...}``.
    """
    out = Path(out_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    kw = dict(width=width, height=height, frames=frames, fps=fps, image_every=image_every)
    paths = {"train": make_split(out, "train", n_train, rng, **kw),
             "val": make_split(out, "val", n_val, rng, **kw)}
    if parquet:
        from verl_videorft.data.convert import convert_file

        for split in ("train", "val"):  # force: the generator replaces what it wrote before
            paths[f"{split}_parquet"] = convert_file(paths[split], out / f"{split}.parquet", force=True)
    return paths


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent / "demo"), help="output directory")
    ap.add_argument("--train", type=int, default=40, help="number of train samples")
    ap.add_argument("--val", type=int, default=10, help="number of val samples")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--frames", type=int, default=24, help="frames per video")
    ap.add_argument("--fps", type=int, default=8)
    ap.add_argument("--size", default="224x168", help="WIDTHxHEIGHT")
    ap.add_argument("--parquet", action="store_true", help="also write train/val.parquet")
    args = ap.parse_args(argv)
    width, height = (int(v) for v in args.size.lower().split("x"))
    paths = make_demo_data(args.out, n_train=args.train, n_val=args.val, seed=args.seed, width=width,
                           height=height, frames=args.frames, fps=args.fps, parquet=args.parquet)
    for name, path in paths.items():
        print(f"{name}: {path}")


if __name__ == "__main__":
    main()
