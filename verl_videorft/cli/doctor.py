"""``videorft doctor``: argument parsing and printing; the checks are :mod:`verl_videorft.doctor`.

    $ videorft doctor
    versions: verl 0.9.1 | torch 2.13.0+cpu | transformers 5.10.4 | vllm - | decord 0.6.0 ...
    [ok] decoders: decord 0.6.0 and av 17.0.1 decode a test clip; frame sampler order decord > pyav
    [ok] torchvision: torchvision 0.28.0 imports (CPU shim installed)
    [ok] processor: transformers 5.10.4: Qwen2_5_VLProcessor, Qwen2VLImageProcessor, Qwen2VLVideoProcessor
    [ok] fresh process: reward_manager, agent_loop, rollout_replica, ...
    [ok] ray worker: started a local Ray instance (no cluster running); reward_manager, ...
    doctor: all checks passed

Exits 1 naming the cause when anything the demo or training needs is missing or broken.
"""

from __future__ import annotations

import argparse

from verl_videorft.cli.args import debug_parent


def run(args: argparse.Namespace) -> int:
    from verl_videorft.doctor import run_checks
    from verl_videorft.doctor.environment import versions
    from verl_videorft.rewards.remote import semantic_encoder_placement

    print("versions: " + " | ".join(f"{k} {v}" for k, v in versions().items()), flush=True)
    print("semantic encoder (reward.videorft defaults): " + semantic_encoder_placement({}), flush=True)
    print(__import__("verl_videorft.gpu_stack", fromlist=["stack_line"]).stack_line(), flush=True)
    failed = 0
    for check in run_checks(ray=not args.no_ray):
        failed += not check.ok
        print("\n".join(check.lines()), flush=True)
    print("doctor: " + (f"{failed} check(s) failed" if failed else "all checks passed"))
    return 1 if failed else 0


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser("doctor", help="check registrations, decoders, torchvision, the processor, Ray",
                                   parents=[debug_parent()], description=__doc__.split("\n\n")[0])
    parser.add_argument("--no-ray", action="store_true", help="skip the check inside a Ray worker")
    parser.set_defaults(func=run)
    return parser
