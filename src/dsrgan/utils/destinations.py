"""Checking where outputs will go before any work starts: a long run must not fail at its last step.

`check_destination` answers for one path whether it can be written (its folder exists or can be made, is a
folder, is writable; the path is no folder, no input, inside the output root) and whether it exists already.
Nothing is created: a run that stops at a usage error leaves no empty folders behind.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from pathlib import Path

from dsrgan.errors import OutputError, OverwriteInputError
from dsrgan.utils.files import is_under


def _existing_ancestor(path: Path) -> Path:
    p = path.parent
    while not p.exists() and p != p.parent:
        p = p.parent
    return p


def check_folder(folder: str | os.PathLike, what: str = "output folder") -> None:
    """OutputError unless `folder` is (or can be made as) a writable folder."""
    folder = Path(folder)
    if folder.exists():
        if not folder.is_dir():
            raise OutputError(f"{what} {folder} is a file, not a folder")
        base = folder
    else:
        base = _existing_ancestor(folder / "x")
        if not base.is_dir():
            raise OutputError(f"{what} {folder} cannot be made: {base} is a file, not a folder")
    if not os.access(base, os.W_OK | os.X_OK):
        raise OutputError(f"{what} {folder} is not writable (permission denied on {base})")


def check_destination(path: str | os.PathLike, *, overwrite: bool, root: str | os.PathLike | None = None,
                      inputs: Iterable[str | os.PathLike] = ()) -> bool:
    """Raise OutputError if `path` cannot be written safely; return whether it exists already.

    An existing file is not an error here: the caller skips it or refuses, unless `overwrite` says replace it.
    `root`: the output folder the path must stay inside (a suffix or format must not lead elsewhere).
    """
    path = Path(path)
    resolved = path.resolve()
    if root is not None and not is_under(resolved, Path(root).resolve()):
        raise OutputError(f"output {path} would lie outside the output folder {root}")
    if any(resolved == Path(i).resolve() for i in inputs):
        raise OverwriteInputError(f"output {path} would replace an input (use another output or suffix)")
    if path.is_dir():
        raise OutputError(f"output {path} is a folder (give a file name, or another output)")
    check_folder(path.parent, "the folder of output")
    exists = path.exists()
    if exists and overwrite and not os.access(path, os.W_OK):
        raise OutputError(f"output {path} exists and is not writable")
    return exists


def check_destinations(paths: Iterable[str | os.PathLike], *, overwrite: bool, root=None, inputs=()) -> set[Path]:
    """check_destination for each path; one error naming the first problem and how many there are.

    Returns the paths that exist already."""
    inputs = [Path(i) for i in inputs]
    problems: list[str] = []
    first: OutputError | None = None
    existing: set[Path] = set()
    for p in paths:
        try:
            if check_destination(p, overwrite=overwrite, root=root, inputs=inputs):
                existing.add(Path(p))
        except OutputError as e:
            problems.append(str(e))
            first = first or e
    if first is not None:
        more = f" (and {len(problems) - 1} more output problem(s))" if len(problems) > 1 else ""
        raise type(first)(f"{problems[0]}{more}")
    return existing


def check_distinct(pairs: Iterable[tuple[str | os.PathLike, str | os.PathLike]]) -> None:
    """OutputError when two different inputs would write the same output (`a.png` and `a.jpg` into one folder):
    found before any work, not when the second one is reached."""
    first: dict[Path, tuple[Path, Path]] = {}
    for src, out in pairs:
        key = Path(out).resolve()
        if key in first and first[key][0].resolve() != Path(src).resolve():
            raise OutputError(f"output {out} would be written for both {first[key][0]} and {src} (inputs with the "
                              "same name; run them separately or into different output folders)")
        first.setdefault(key, (Path(src), Path(out)))
    for key, (_, out) in first.items():  # one output file where another needs a folder
        for parent in key.parents:
            if parent in first:
                raise OutputError(f"output {first[parent][1]} is a file name, and also the folder of output {out}")


def check_apart(folder: str | os.PathLike, inputs: Iterable[str | os.PathLike], what: str = "output folder") -> None:
    """OverwriteInputError when `folder`, which a command replaces as a whole, is an input, holds one or lies
    inside one."""
    f = Path(folder).resolve()
    for i in inputs:
        r = Path(i).resolve()
        if r == f or is_under(r, f) or is_under(f, r):
            where = "holds" if r != f and is_under(r, f) else "is" if r == f else "lies inside"
            raise OverwriteInputError(f"{what} {folder} {where} the input {i}; give a folder apart from the inputs")


def names_output_file(output: str | os.PathLike, *, one_input_file: bool, extensions: Iterable[str],
                      what: str = "an image format we write") -> bool:
    """Whether a command's OUTPUT names the output file (one input file, an image extension) and not a folder.

    With one input file, an OUTPUT that looks like a file name with another extension (`out.pgn`, `a.xyz`) is
    refused instead of becoming a folder of that name, and so is a file name in `extensions` with several inputs;
    a folder is still meant when it exists or ends with a separator.
    """
    raw = os.fspath(output)
    path = Path(raw)
    if raw.endswith(("/", os.sep)) or path.is_dir():
        return False
    suffix = path.suffix.lower()
    if suffix in extensions:
        if not one_input_file:  # `*.jpg -o big.png` would make a folder called big.png
            raise OutputError(f"output {raw} names a file, but the inputs are several images or a folder: give "
                              "a folder (end it with '/' for a folder of that name)")
        return True
    if not one_input_file:
        return False
    if re.fullmatch(r"\.[a-z][a-z0-9]{0,4}", suffix) and not path.exists():
        raise OutputError(f"output {raw}: {suffix!r} is not {what} (use one of "
                          f"{', '.join(sorted(extensions))}; for a folder of that name, end it with '/')")
    return False
