"""Throughput of format + accuracy rewards on one core, and worst time on 1 MB adversarial inputs.

    python benchmarks/bench_rewards.py            # targets: >= 100k/s multiple choice, < 50 ms worst

Prints rewards/second per problem type (format + accuracy on realistic completions), the same for
the reference regexes as a baseline measured in this run, then the worst single-call time over a
set of 1 MB adversarial completions for every problem type.
"""

from __future__ import annotations

import os
import random
import re
import time

try:  # one core, as the target says (Linux only; elsewhere just run as is)
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
except (AttributeError, OSError):
    pass

from verl_videorft.rewards import PROBLEM_TYPES, accuracy_reward, format_reward

REF_FORMAT = re.compile(r"<think>.*?</think>\s*<answer>.*?</answer>", re.DOTALL)
REF_ANSWER = re.compile(r"<answer>\s*(.*?)\s*</answer>", re.DOTALL)

THINK = ("<think>Let me think about the video. The ball moves to the left, hmm, wait, then it "
         "stops near the red box. Oh, I see, so the answer should be the second option.</think>\n")
SAMPLES = {
    "multiple choice": [("B", "<answer>B</answer>"), ("C", "<answer>B</answer>")],
    "numerical": [("3.5", "<answer>3.5</answer>"), ("12", "<answer>12.0</answer>")],
    "OCR": [("STOP sign ahead", "<answer>STOP sign ahead</answer>"), ("stop", "<answer>STOP</answer>")],
    "free-form": [("the man opens the door", "<answer>a man is opening a door</answer>")],
    "regression": [("4.2", "<answer>4.0</answer>"), ("0", "<answer>3</answer>")],
}


def rate(problem_type: str, seconds: float = 0.5) -> float:
    pairs = [(f"{THINK}<answer>{a}</answer>", s) for a, s in SAMPLES[problem_type]]
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        for completion, solution in pairs:
            format_reward(completion) + accuracy_reward(completion, solution, problem_type)
        n += len(pairs)
    return n / (time.perf_counter() - start)


def reference_mc_rate(seconds: float = 0.5) -> float:
    """The reference pattern (regex fullmatch + regex search) for multiple choice, as baseline."""
    completion, solution = f"{THINK}<answer>B</answer>", "<answer>B</answer>"
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        fmt = 1.0 if REF_FORMAT.fullmatch(completion) else 0.0
        out, gt = REF_ANSWER.search(completion), REF_ANSWER.search(solution)
        fmt + (1.0 if out.group(1).strip() == gt.group(1).strip() else 0.0)
        n += 1
    return n / (time.perf_counter() - start)


def adversarial(size: int = 1 << 20) -> dict[str, str]:
    rnd = random.Random(0)
    words = " ".join("".join(rnd.choice("abcdefghij") for _ in range(rnd.randint(2, 9)))
                     for _ in range(size // 6))[:size]
    return {
        "open-think-repeated": "<think>" * (size // 7),
        "join-then-whitespace": "<think></think>" + " " * size + "<answer>x",
        "many-joins": "<think>" + "</think> \n" * (size // 10) + "<answer>B</answer>",
        "answer-of-words": f"<think>.</think><answer>{words}</answer>",
        "think-of-words": f"<think>{words}</think><answer>B</answer>",
        "answer-digits": "<think>.</think><answer>" + "9" * size + "</answer>",
        "unclosed-answers": "<answer>" * (size // 8),
        "joins-no-close": "<think>" + "</think><answer>" * (size // 16) + "x",
        "binary-junk": bytes(rnd.randrange(256) for _ in range(size)).decode("latin-1"),
    }


def worst_adversarial_ms(repeats: int = 3) -> tuple[float, str]:
    """Worst case over inputs and types of the best-of-``repeats`` time (filters scheduler noise)."""
    worst, name = 0.0, ""
    for label, text in adversarial().items():
        for problem_type in PROBLEM_TYPES:
            best = float("inf")
            for _ in range(repeats):
                start = time.perf_counter()
                format_reward(text) + accuracy_reward(
                    text, "<answer>a man is opening a door</answer>", problem_type)
                best = min(best, (time.perf_counter() - start) * 1e3)
            if best > worst:
                worst, name = best, f"{label}/{problem_type}"
    return worst, name


def warm_up() -> None:
    """First calls import rouge-score/nltk and editdistance: keep that out of the timings."""
    for problem_type, pairs in SAMPLES.items():
        for answer, solution in pairs:
            accuracy_reward(f"{THINK}<answer>{answer}</answer>", solution, problem_type)


def main() -> None:
    warm_up()
    baseline = reference_mc_rate()
    print(f"reference regexes, multiple choice: {baseline:,.0f} rewards/s (baseline)")
    for problem_type in PROBLEM_TYPES:
        r = rate(problem_type)
        note = f"  ({r / baseline:.2f}x reference)" if problem_type == "multiple choice" else ""
        print(f"{problem_type:>16}: {r:,.0f} format+accuracy rewards/s{note}")
    joins = "<think>" + "</think><answer>" * (32 << 10 >> 4) + "x"
    start = time.perf_counter()
    REF_FORMAT.fullmatch(joins)
    ref_ms = (time.perf_counter() - start) * 1e3
    print(f"reference format regex on 32 KB of joins: {ref_ms:.0f} ms (quadratic: x1024 at 1 MB)")
    worst, name = worst_adversarial_ms()
    print(f"worst 1 MB adversarial: {worst:.1f} ms ({name}); target < 50 ms")
    print(f"mc_rate={rate('multiple choice'):.0f}")


if __name__ == "__main__":
    main()
