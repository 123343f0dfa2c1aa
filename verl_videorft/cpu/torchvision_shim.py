"""Make the index's CUDA-only torchvision wheel importable on a CPU-only machine.

The only torchvision on the package index is a CUDA build. Its ``_meta_registrations`` module
registers CUDA ops at import and raises without CUDA, which breaks ``from transformers import
PreTrainedModel``. A ``.pth`` file (run by every interpreter of the venv, Ray workers included)
pre-registers an empty module under that name, so torchvision's pure-Python transforms import.
Installed by ``make install`` only (CPU); GPU installs use a real torchvision and skip this.

    python -m verl_videorft.cpu.torchvision_shim --install
"""

from __future__ import annotations

import argparse
import sysconfig
from pathlib import Path

PTH_NAME = "verl_videorft_torchvision_shim.pth"
PTH_LINE = (
    "import sys, types; sys.modules.setdefault('torchvision._meta_registrations', "
    "types.ModuleType('torchvision._meta_registrations'))\n"
)


def install(site_packages: str | None = None) -> Path:
    """Write the ``.pth`` file into ``site_packages`` (default: this interpreter's purelib)."""
    target = Path(site_packages or sysconfig.get_paths()["purelib"]) / PTH_NAME
    if not target.exists() or target.read_text() != PTH_LINE:
        target.write_text(PTH_LINE)
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--install", action="store_true", help="write the .pth file")
    parser.add_argument("--site-packages", default=None)
    args = parser.parse_args()
    if args.install:
        print(f"torchvision shim: {install(args.site_packages)}")


if __name__ == "__main__":
    main()
