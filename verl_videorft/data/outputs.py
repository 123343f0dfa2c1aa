"""Safe outputs for the data tools: never over an input, never over an existing file unless forced,
and never a half-written file where a good one was.

A tool writes to a temporary file beside the target and renames it into place when done
(``os.replace`` is atomic within one file system), so a crash or Ctrl-C leaves the old file intact
and no truncated output behind.

    >>> import os, tempfile
    >>> d = tempfile.mkdtemp()
    >>> target = os.path.join(d, "out.txt")
    >>> with atomic_output(target) as tmp:
    ...     _ = open(tmp, "w").write("done")
    >>> open(target).read(), sorted(os.listdir(d))
    ('done', ['out.txt'])
    >>> check_output(target, inputs=[])
    Traceback (most recent call last):
    ...
    verl_videorft.data.outputs.OutputError: ... already exists (give --force to replace it)
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from verl_videorft.errors import UsageError


class OutputError(UsageError):
    """An output path the tool must not write (an input, an existing file, a directory)."""


def _same_file(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.abspath(a) == os.path.abspath(b)


def check_output(output: str | os.PathLike, inputs: Iterable[str | os.PathLike], force: bool = False) -> Path:
    """Raise :class:`OutputError` when writing ``output`` would destroy data; return it as a Path.

    An input is never overwritten, ``--force`` or not (the tool reads it while writing). An existing
    file is replaced only with ``force``; a directory never.
    """
    out = Path(output)
    for src in inputs:
        if _same_file(os.fspath(out), os.fspath(src)):
            raise OutputError(f"{out}: output is the input file {src}; give another output path")
    if out.is_dir():
        raise OutputError(f"{out}: is a directory, expected an output file path")
    if out.exists() and not force:
        raise OutputError(f"{out}: already exists (give --force to replace it)")
    return out


@contextlib.contextmanager
def atomic_output(output: str | os.PathLike) -> Iterator[str]:
    """Yield a temporary path beside ``output``; on success rename it to ``output``, else delete it."""
    out = Path(output)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes it 0600; the output gets the usual permissions
    try:
        yield tmp
        os.replace(tmp, out)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
