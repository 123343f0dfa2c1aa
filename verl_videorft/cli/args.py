"""Argument checking shared by the ``videorft`` sub-commands: bad values fail at parse time, in one
line, with exit code 2, before any work starts."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from typing import NoReturn

from verl_videorft.data.records import RECORD_SUFFIXES


class Parser(argparse.ArgumentParser):
    """``argparse`` with a one-line error (argparse prints the whole usage block first)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def debug_parent() -> argparse.ArgumentParser:
    """``--debug`` for every leaf command, so it may follow the sub-command's own arguments."""
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                        help="show the full traceback of an unexpected error")
    return parent


def int_at_least(low: int) -> Callable[[str], int]:
    """An ``int`` argument type that rejects values below ``low``."""

    def parse(value: str) -> int:
        try:
            number = int(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {value!r}") from None
        if number < low:
            raise argparse.ArgumentTypeError(f"must be >= {low}, got {number}")
        return number

    parse.__name__ = f"int >= {low}"
    return parse


def float_in(low: float, high: float, *, low_open: bool = False) -> Callable[[str], float]:
    """A ``float`` argument type for ``[low, high]`` (``(low, high]`` when ``low_open``)."""

    def parse(value: str) -> float:
        try:
            number = float(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {value!r}") from None
        if not (low < number if low_open else low <= number) or not number <= high:
            bracket = "(" if low_open else "["
            raise argparse.ArgumentTypeError(f"must be in {bracket}{low}, {high}], got {number}")
        return number

    return parse


def record_file(value: str) -> str:
    """An existing ``.json`` / ``.jsonl`` / ``.parquet`` file (a directory is not "not found")."""
    if os.path.isdir(value):
        raise argparse.ArgumentTypeError(f"{value}: is a directory, expected a record file "
                                         f"({', '.join(RECORD_SUFFIXES)})")
    if not os.path.exists(value):
        raise argparse.ArgumentTypeError(f"{value}: record file not found")
    if not value.endswith(RECORD_SUFFIXES):
        raise argparse.ArgumentTypeError(f"{value}: unsupported record file (expected {', '.join(RECORD_SUFFIXES)})")
    return value


def existing_dir(value: str) -> str:
    if not os.path.isdir(value):
        what = "is a file, expected a directory" if os.path.exists(value) else "directory not found"
        raise argparse.ArgumentTypeError(f"{value}: {what}")
    return value


def parquet_output(value: str) -> str:
    if not value.endswith(".parquet"):
        raise argparse.ArgumentTypeError(f"{value}: the output is parquet; give a path ending in .parquet")
    return value


def frame_profile(value: str) -> str:
    """A named frame profile (``train``, ``eval``, ...)."""
    from verl_videorft.video import PROFILES

    if value not in PROFILES:
        raise argparse.ArgumentTypeError(f"unknown frame profile {value!r}; known: {', '.join(sorted(PROFILES))}")
    return value


def model_path(value: str) -> str:
    """A local model / tokenizer folder; a value that is not path-like (``Qwen/Qwen2.5-VL-7B-Instruct``)
    passes as a hub name."""
    path = os.path.expanduser(value)
    if value.startswith((os.sep, ".", "~")) or os.path.exists(path):
        if not os.path.isdir(path):
            what = "is a file, expected a model folder" if os.path.exists(path) else "model folder not found"
            raise argparse.ArgumentTypeError(f"{value}: {what}")
    return value


def ray_arguments(parser: argparse.ArgumentParser | argparse._ArgumentGroup, what: str) -> None:
    """``--ray`` and ``--ray-address`` for a command that can run ``what`` on Ray Data; read them back
    with :func:`ray_options`."""
    parser.add_argument("--ray", action="store_true",
                        help=f"run {what} on Ray Data: a local Ray instance, or the cluster of --ray-address")
    parser.add_argument("--ray-address", help="join this Ray cluster: auto, or ray://HEAD:10001 (implies --ray)")


def ray_options(args: argparse.Namespace):
    """The :class:`~verl_videorft.offline.ray_data.RayOptions` of ``--ray`` / ``--ray-address``, or None."""
    if not (args.ray or args.ray_address):
        return None
    from verl_videorft.offline.ray_data import RayOptions

    return RayOptions(address=args.ray_address)
