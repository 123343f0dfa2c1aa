"""Frame sizes for common source resolutions: ours (``target_size``) next to the released
``fetch_video``'s, for the train and eval profiles, as a Markdown table.

The released size is computed here from the released formula, independently of
``verl_videorft.video.profiles`` (VideoRFT's vendored qwen-vl-utils: ``VIDEO_MIN_PIXELS =
VIDEO_MAX_PIXELS`` = 128·28·28 in training, 256·28·28 in evaluation, ``VIDEO_TOTAL_PIXELS`` =
128000·28·28·0.9)::

    max_pixels' = max(min(VIDEO_MAX_PIXELS, total_pixels / nframes * 2), int(1.05 * min_pixels))
    size = smart_resize(h, w, 28, min_pixels, max_pixels')

"capped" is the size with the per-frame budget capped at ``max_pixels`` (``budget="strict"``,
this project's earlier default); rows where it differs are marked.

    python benchmarks/frame_sizes.py > sizes.md
"""

from __future__ import annotations

from qwen_vl_utils.vision_process import smart_resize

from verl_videorft.video import PROFILES, resolve_profile, target_size

RESOLUTIONS = [  # (width, height): phone, web, broadcast and dataset sizes
    (128, 96), (176, 144), (320, 180), (320, 240), (352, 240), (352, 288), (426, 240), (480, 270),
    (480, 360), (480, 480), (540, 960), (568, 320), (640, 360), (640, 480), (640, 640), (720, 480),
    (720, 576), (720, 1280), (768, 432), (800, 600), (854, 480), (960, 540), (1024, 576), (1024, 768),
    (1080, 1080), (1080, 1920), (1280, 720), (1280, 960), (1440, 1080), (1920, 1080), (2560, 1440),
    (3840, 2160),
]
TOTAL_PIXELS = 128000 * 28 * 28 * 0.9


def released(height: int, width: int, per_frame: int, nframes: int) -> tuple[int, int]:
    """The released fetch_video size with ``VIDEO_MIN_PIXELS = VIDEO_MAX_PIXELS = per_frame``."""
    cap = max(min(per_frame, TOTAL_PIXELS / nframes * 2), int(per_frame * 1.05))
    return smart_resize(height, width, 28, per_frame, cap)


def main() -> None:
    rows = []
    differ = {"train": 0, "eval": 0}
    for w, h in RESOLUTIONS:
        cells = [f"{w}×{h}"]
        for name in ("train", "eval"):
            prof = PROFILES[name]
            ours = target_size(h, w, prof)
            ref = released(h, w, prof.max_pixels, prof.nframes)
            capped = target_size(h, w, resolve_profile({"base": name, "budget": "strict"}))
            if ours != ref:
                raise SystemExit(f"{w}×{h} {name}: ours {ours} != released {ref}")
            differ[name] += capped != ours
            mark = "" if capped == ours else " *"
            cells += [f"{ours[1]}×{ours[0]}", f"{capped[1]}×{capped[0]}{mark}"]
        rows.append("| " + " | ".join(cells) + " |")
    print("| source W×H | train: ours = released | train: capped | eval: ours = released | eval: capped |")
    print("|---|---|---|---|---|")
    print("\n".join(rows))
    print(f"\n`*`: the capped budget gives another size ({differ['train']} of {len(RESOLUTIONS)} in training, "
          f"{differ['eval']} of {len(RESOLUTIONS)} in evaluation). Sizes are W×H of each frame.")


if __name__ == "__main__":
    main()
