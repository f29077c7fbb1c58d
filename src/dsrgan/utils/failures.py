"""Per-file failures of a batch command: noted as they happen, listed again in the closing summary."""

from __future__ import annotations

import sys
from pathlib import Path


class FailureLog:
    """`note(src, error)` writes one line through the progress bar; `finish(head)` prints the summary and returns
    the exit status (1 when any file failed)."""

    def __init__(self, command: str, bar, items: list[tuple[Path, str]] = ()):
        self.command, self.bar = command, bar
        self.items: list[tuple[Path, str]] = list(items)  # e.g. inputs found missing before the run

    def note(self, src: Path, error: BaseException) -> None:
        reason = str(error).removeprefix(f"{src}: ")
        self.items.append((src, reason))
        self.bar.write(f"{self.command}: failed: {src}: {reason}", file=sys.stderr)

    def __len__(self) -> int:
        return len(self.items)

    def finish(self, head: str) -> int:
        lines = [f"{self.command}: {head}"] + [f"  failed: {p}: {reason}" for p, reason in self.items]
        print("\n".join(lines), file=sys.stderr)
        return 1 if self.items else 0
