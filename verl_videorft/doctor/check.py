"""One doctor check's outcome, printed as ``[ok] label: detail`` or ``[FAIL] label: problem`` lines.

    >>> Check("decoder", True, ["decord 0.6.0 decodes a test clip"]).lines()
    ['[ok] decoder: decord 0.6.0 decodes a test clip']
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Check:
    label: str
    ok: bool
    details: list[str] = field(default_factory=list)  # what was found, or each problem when not ok

    def lines(self) -> list[str]:
        tag = "[ok]" if self.ok else "[FAIL]"
        return [f"{tag} {self.label}: {d}" for d in self.details] or [f"{tag} {self.label}"]


def short(exc: BaseException) -> str:
    """``Type: message`` on one line, at most ~300 characters (decord's messages carry backtraces).

    >>> short(ValueError("bad\\n  value"))
    'ValueError: bad value'
    """
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text[:300]}" if text else type(exc).__name__
