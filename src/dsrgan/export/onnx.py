"""Writing ONNX files of a generator, and the per-user cache of them that the fast engines load.

The exporter is torch's TorchScript-based one (`dynamo=False`): it traces in seconds and keeps height and width
symbolic through the networks' nearest-neighbour upsampling. Opset 17 is read by ONNX Runtime >= 1.12,
OpenVINO >= 2022.3 and the ONNX-loading GUIs.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import warnings
from pathlib import Path

from dsrgan.errors import DsrganError

OPSET = 17
# bump when the exported graph changes, so that older cached files are not reused
GRAPH_VERSION = 1
PROBE_SIDE = 24  # size of the example input the graph is traced with (any size works afterwards)


class ExportError(DsrganError):
    """The network could not be turned into an ONNX graph."""


def _example(spec, end_to_end: bool):
    import torch

    x = torch.rand(1, 3, PROBE_SIDE, PROBE_SIDE)
    if end_to_end or spec.detail_variant is None:
        return (x,)
    return x, 0.1 * torch.randn(1, spec.detail_channels, PROBE_SIDE, PROBE_SIDE)


def export_onnx(model, spec, path: str | os.PathLike, *, end_to_end: bool = False, clamp: bool = True,
                opset: int = OPSET) -> Path:
    """Write `model` (an ArchSpec'd generator) as ONNX to `path`, atomically. Height and width are dynamic.

    Inputs: `lr` (N x 3 x H x W RGB in [0, 1]) and, for DSRGAN models, `detail` (N x C x H x W, the detail
    variant's network input); with `end_to_end` a single `image` input and the detail prior inside the graph
    (dsrgan variant only). Output `sr`: N x 3 x 4H x 4W, clamped to [0, 1] when `clamp`.
    """
    from dsrgan.export.graphs import END_TO_END_INPUTS, GENERATOR_INPUTS, OUTPUTS, EndToEndGraph, GeneratorGraph

    has_detail = spec.detail_variant is not None
    if end_to_end and has_detail and spec.detail_variant != "dsrgan":
        raise ExportError(f"an end-to-end graph exists for the dsrgan detail variant only; this model uses "
                          f"{spec.detail_variant!r} (export the two-input graph and compute its detail input "
                          "yourself)")
    model = model.eval().float()
    if end_to_end:
        graph, names = EndToEndGraph(model, has_detail), END_TO_END_INPUTS
    else:
        graph, names = GeneratorGraph(model, has_detail, clamp=clamp), GENERATOR_INPUTS[:1 + has_detail]
    return _write(graph, _example(spec, end_to_end), names, OUTPUTS, Path(path), spec.name or spec.arch, opset)


def export_stages(loaded, trunk_path: str | os.PathLike, head_path: str | os.PathLike, *, opset: int = OPSET
                  ) -> tuple[Path, Path]:
    """Write a network that declares two stages (a LoadedModel with `has_stages`) as two graphs, atomically:
    the trunk, `lr` (+ `detail`) -> `features` (N x C x H x W), and the head, `features` (or a crop of them) ->
    `sr` (unclamped, detail strength 1). Height and width are dynamic in both."""
    import torch

    from dsrgan.export.graphs import FEATURES, GENERATOR_INPUTS, OUTPUTS, HeadGraph, TrunkGraph

    spec = loaded.spec
    loaded.module.eval().float()
    example = _example(spec, False)
    with torch.inference_mode():
        features = loaded.run_trunk(example[0], example[1] if len(example) > 1 else None)
    name = spec.name or spec.arch
    return (_write(TrunkGraph(loaded), example, GENERATOR_INPUTS[:len(example)], FEATURES, Path(trunk_path),
                   f"{name} (trunk)", opset),
            _write(HeadGraph(loaded), (features,), FEATURES, OUTPUTS, Path(head_path), f"{name} (head)", opset))


def _write(graph, example: tuple, inputs, outputs, path: Path, what: str, opset: int) -> Path:
    """Trace `graph` on `example` to `path` (atomically), batch, height and width of every input and output
    dynamic."""
    import importlib.util

    import torch

    from dsrgan.utils.atomic import atomic_path

    if importlib.util.find_spec("onnx") is None:
        raise ExportError("ONNX export needs the onnx package (pip install 'dsrgan[fast]')")
    axes = {n: {0: "batch", 2: "height", 3: "width"} for n in inputs}
    axes.update({n: {0: "batch", 2: "out_height", 3: "out_width"} for n in outputs})
    try:
        with atomic_path(path) as tmp, warnings.catch_warnings(), torch.inference_mode():
            warnings.simplefilter("ignore")  # tracer chatter about shape checks that hold for every input
            torch.onnx.export(graph, example, str(tmp), input_names=list(inputs), output_names=list(outputs),
                              dynamic_axes=axes, opset_version=opset, dynamo=False, do_constant_folding=True)
    except (RuntimeError, ValueError, TypeError) as e:
        raise ExportError(f"ONNX export of {what} failed: {str(e).splitlines()[0][:200]}") from e
    return path


# --- the cache of engine files --------------------------------------------------------------------------------
def cache_dir() -> Path:
    """$DSRGAN_CACHE_DIR, else $XDG_CACHE_HOME/dsrgan, else ~/.cache/dsrgan."""
    env = os.environ.get("DSRGAN_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "dsrgan"


def model_key(model, spec) -> str:
    """A content hash of the weights and the architecture (what the exported graph depends on), plus torch's
    version (its exporter writes the graph)."""
    import torch

    h = hashlib.sha256()
    h.update(json.dumps([spec.to_dict(), torch.__version__, GRAPH_VERSION, OPSET], sort_keys=True,
                        default=str).encode())
    for name, t in model.state_dict().items():
        h.update(name.encode())
        h.update(t.detach().float().contiguous().cpu().numpy().tobytes())
    return h.hexdigest()[:20]


@dataclasses.dataclass(frozen=True)
class EngineFiles:
    """The engine files of one network: `graph` (lr [+ detail] -> sr), or for a network that declares two stages
    its trunk (`graph`: lr [+ detail] -> features) and `head` (features -> sr), whose output pixels depend on
    features at most `head_context` LR pixels away and which scales by `scale`."""

    graph: Path
    head: Path | None = None
    scale: int = 4
    head_context: int = 0

    @property
    def paths(self) -> tuple[Path, ...]:
        return (self.graph,) if self.head is None else (self.graph, self.head)


def cached_engine_files(loaded) -> tuple[EngineFiles, bool]:
    """The engine graphs of a LoadedModel in the user cache (unclamped), exported on first use: trunk and head
    for a network that declares two stages, else the whole network; (files, whether they were exported now).

    The names carry `model_key` (weights, architecture, torch, GRAPH_VERSION, opset) and the stage ("-trunk",
    "-head"; none for the whole graph), so the three kinds never share a file and a change of any part of the key
    gets new files.
    """
    folder = cache_dir() / "onnx"
    stem = f"{loaded.spec.name or loaded.spec.arch}-{model_key(loaded.module, loaded.spec)}"
    if loaded.has_stages:
        files = EngineFiles(folder / f"{stem}-trunk.onnx", folder / f"{stem}-head.onnx", loaded.scale,
                            loaded.head_context)
    else:
        files = EngineFiles(folder / f"{stem}.onnx", scale=loaded.scale)
    if all(p.is_file() for p in files.paths):
        return files, False
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ExportError(f"cannot create the cache folder {folder}: {e.strerror} (set DSRGAN_CACHE_DIR)") from e
    if files.head is not None:
        export_stages(loaded, files.graph, files.head)
    else:
        export_onnx(loaded.module, loaded.spec, files.graph, clamp=False)
    return files, True
