"""Finding image files in the paths a user gives."""

from __future__ import annotations

import os
from pathlib import Path

IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"})


def is_image_path(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_EXTENSIONS and not path.name.startswith(".")


def is_under(path: Path, folder: Path) -> bool:
    """Whether `path` lies inside `folder` (both taken as given: resolve them first if needed)."""
    try:
        path.relative_to(folder)
        return True
    except ValueError:
        return False


def refuse_repeats(paths, what: str, key=None) -> None:
    """UsageError naming the first path given twice (compared resolved: `a`, `./a` and a link to it are one), before
    any work: a repeated input would be done, written and reported twice. `key` maps a path to what is compared
    (default: the resolved path)."""
    from dsrgan.errors import UsageError

    seen: dict = {}
    for p in paths:
        k = Path(p).resolve() if key is None else key(p)
        if k in seen:
            both = "" if str(seen[k]) == str(p) else f" (as {seen[k]} and {p})"
            raise UsageError(f"{what} {p} is given twice{both}: name each once")
        seen[k] = p


def list_images(folder: str | os.PathLike, recursive: bool = True) -> list[Path]:
    """Image files under `folder`, sorted, hidden files and our own temporary files skipped."""
    folder = Path(folder)
    pattern = "**/*" if recursive else "*"
    return sorted(p for p in folder.glob(pattern) if p.is_file() and is_image_path(p))


def gather_inputs(inputs: list[str | os.PathLike], exclude: list[str | os.PathLike] = (),
                  recursive: bool = True) -> tuple[list[tuple[Path, Path]], list[tuple[Path, str]]]:
    """Like expand_inputs, one input at a time: (file, relative path) pairs, and (path, reason) for inputs that
    do not exist. Files found in folders under any `exclude` root (our own output folders) are left out; an
    input folder that is, or lies inside, such a root would lose all its images that way: OverwriteInputError."""
    from dsrgan.errors import OverwriteInputError

    roots = [Path(e).resolve() for e in exclude]
    items: list[tuple[Path, Path]] = []
    missing: list[tuple[Path, str]] = []
    for raw in inputs:
        try:
            found = expand_inputs([raw], recursive)
        except FileNotFoundError:
            missing.append((Path(raw), "no such file or folder"))
            continue
        if Path(raw).is_dir():
            here = Path(raw).resolve()
            inside = next(((e, root) for e, root in zip(exclude, roots, strict=True) if is_under(here, root)), None)
            if inside is not None:
                where = "is" if here == inside[1] else "lies in"
                raise OverwriteInputError(f"input folder {raw} {where} the output folder {inside[0]}: its images "
                                          "would mix with the outputs; give an output folder apart from it")
            found = [(f, r) for f, r in found if not any(is_under(f.resolve(), root) for root in roots)]
        items.extend(found)
    # a file named twice (`a.png a.png`, `./a.png a.png`) is done once
    seen: set[tuple[Path, Path]] = set()
    unique = [(f, r) for f, r in items if not ((f.resolve(), r) in seen or seen.add((f.resolve(), r)))]
    return unique, missing


def require_inputs(inputs: list[str | os.PathLike], exclude: list[str | os.PathLike] = (),
                   recursive: bool = True) -> list[tuple[Path, Path]]:
    """gather_inputs for a command: a named input that does not exist, or no image at all, is an error before any
    work starts (a mistyped name must not surface at the end of a long batch)."""
    from dsrgan.errors import InputNotFoundError

    items, missing = gather_inputs(inputs, exclude, recursive)
    if missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise InputNotFoundError(f"input {missing[0][0]}: {missing[0][1]}{more}")
    if not items:
        raise InputNotFoundError(f"no images found in {' '.join(map(str, inputs))} "
                                 f"(looked for {', '.join(sorted(e[1:] for e in IMAGE_EXTENSIONS))})")
    return items


def expand_inputs(inputs: list[str | os.PathLike], recursive: bool = True) -> list[tuple[Path, Path]]:
    """Expand files and folders into (file, path relative to its root) pairs, keeping folder layouts.

    A file given directly has itself (its name) as the relative path. Missing paths raise FileNotFoundError.
    """
    out: list[tuple[Path, Path]] = []
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            out.extend((f, f.relative_to(p)) for f in list_images(p, recursive))
        elif p.exists():
            out.append((p, Path(p.name)))
        else:
            raise FileNotFoundError(str(p))
    return out
