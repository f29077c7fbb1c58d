"""Model files (round trip, namespace, metadata, corrupt input), ESRGAN-family import, model resolution."""

import json
import re

import pytest
import torch

from dsrgan.archs import PRESETS, ArchSpec, DSRGANGenerator, RRDBNet, build
from dsrgan.errors import CheckpointError, DsrganError, UnknownModelError
from dsrgan.weights import bundled as bundled_mod
from dsrgan.weights import (
    load_esrgan_into_trunk,
    load_esrgan_state_dict,
    load_model_file,
    read_metadata,
    resolve_model,
    save_model,
)

SMALL = dict(num_feat=8, num_block=3, num_grow=4)


def _small_dsrgan_spec(**extra):
    params = dict(SMALL, taps=(1, 3), detail_feat=4, detail_grow=4, attention_channels=4, **extra)
    return ArchSpec("dsrgan", dict(params, fusion="multiply", detail_channels=1), detail_variant="dsrgan",
                    name="tiny-dsrgan")


def _randomise(model, seed=0):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(0.1 * torch.randn(p.shape, generator=g))
    return model.eval()


def _to_old_arch(state, nb):
    """BasicSR names -> original ESRGAN old-arch names, written out from ESRGAN's sequential layout:
    model.0 conv_first; model.1.sub.N RRDBs (conv_block = Sequential(conv, act) -> '.0.'); model.1.sub.nb the
    LR conv; model.3/6 the upsampling convs; model.8/10 the HR convs."""
    out = {}
    for k, v in state.items():
        m = re.fullmatch(r"body\.(\d+)\.rdb(\d)\.(conv\d)\.(weight|bias)", k)
        if m:
            out[f"model.1.sub.{m[1]}.RDB{m[2]}.{m[3]}.0.{m[4]}"] = v
            continue
        layer, kind = k.split(".")
        idx = {"conv_first": "0", "conv_body": f"1.sub.{nb}", "conv_up1": "3", "conv_up2": "6", "conv_hr": "8",
               "conv_last": "10"}[layer]
        out[f"model.{idx}.{kind}"] = v
    return out


def test_round_trip_identical_outputs(tmp_path):
    spec = _small_dsrgan_spec()
    torch.manual_seed(0)
    model = _randomise(build(spec))
    path = save_model(tmp_path / "m.safetensors", model, spec, metadata={"training_iterations": 123, "note": "x"})
    lm = load_model_file(path)
    loaded, spec2, meta = lm.module, lm.spec, lm.metadata
    assert spec2 == spec and isinstance(loaded, DSRGANGenerator) and not loaded.training
    assert lm.scale == 4 and lm.detail_variant == "dsrgan" and lm.detail_channels == 1
    lr, d = torch.rand(1, 3, 8, 8), 0.2 * torch.randn(1, 1, 8, 8)
    with torch.no_grad():
        for a, b in zip(model(lr, d), loaded(lr, d), strict=True):
            assert torch.equal(a, b)
    assert meta["training_iterations"] == "123" and meta["note"] == "x"
    assert meta["arch"] == "dsrgan" and meta["detail_variant"] == "dsrgan" and meta["scale"] == "4"
    assert json.loads(meta["arch_params"])["taps"] == [1, 3]
    assert not list(tmp_path.glob(".*part"))  # atomic write left nothing behind


def test_keys_are_namespaced_so_tools_do_not_see_esrgan(tmp_path):
    from safetensors import safe_open

    spec = ArchSpec("rrdbnet", dict(SMALL), name="tiny")
    path = save_model(tmp_path / "e.safetensors", build(spec), spec)
    with safe_open(str(path), framework="pt") as f:
        keys = list(f.keys())
    assert keys and all(k.startswith("dsrgan.") for k in keys)
    assert "conv_first.weight" not in keys and "model.0.weight" not in keys
    assert read_metadata(path)["format"] == "dsrgan-model"


def test_save_checks_spec_and_reserved_keys(tmp_path):
    spec = ArchSpec("rrdbnet", dict(SMALL))
    with pytest.raises(ValueError, match="spec says"):
        save_model(tmp_path / "x.safetensors", build(_small_dsrgan_spec()), spec)
    with pytest.raises(ValueError, match="reserved"):
        save_model(tmp_path / "x.safetensors", build(spec), spec, metadata={"arch": "evil"})


def test_corrupt_and_foreign_files(tmp_path):
    spec = ArchSpec("rrdbnet", dict(SMALL))
    good = save_model(tmp_path / "good.safetensors", build(spec), spec)
    data = good.read_bytes()
    cases = {
        "missing.safetensors": None,
        "empty.safetensors": b"",
        "truncated.safetensors": data[: len(data) // 2],
        "garbage.safetensors": b"\x00\x01 definitely not safetensors" * 10,
        "header-only.safetensors": data[:40],
        "garbage.pth": b"PK\x03\x04 broken zip",
    }
    for name, content in cases.items():
        p = tmp_path / name
        if content is not None:
            p.write_bytes(content)
        with pytest.raises(CheckpointError) as e:
            load_model_file(p)
        msg = str(e.value)
        assert name in msg and "\n" not in msg, msg

    from safetensors.torch import save_file

    foreign = tmp_path / "foreign.safetensors"
    save_file({"encoder.weight": torch.zeros(2, 2)}, str(foreign))
    with pytest.raises(CheckpointError, match="neither a dsrgan model file"):
        load_model_file(foreign)


def test_newer_format_version_is_refused(tmp_path):
    from safetensors.torch import load_file, save_file

    spec = ArchSpec("rrdbnet", dict(SMALL))
    p = save_model(tmp_path / "m.safetensors", build(spec), spec)
    meta = read_metadata(p)
    meta["format_version"] = "99"
    save_file(load_file(str(p)), str(p), metadata=meta)
    with pytest.raises(CheckpointError, match="format version"):
        load_model_file(p)


def test_pickle_with_code_is_refused(tmp_path):
    import pickle

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    p = tmp_path / "evil.pth"
    p.write_bytes(pickle.dumps({"params": Evil()}, protocol=2))
    with pytest.raises(CheckpointError, match="evil.pth"):
        load_model_file(p)


@pytest.fixture()
def reference_rrdbnet():
    torch.manual_seed(0)
    return _randomise(RRDBNet(**SMALL), seed=3)


def test_old_arch_and_basicsr_layouts_give_identical_outputs(tmp_path, reference_rrdbnet):
    ref = reference_rrdbnet
    basicsr = {k: v.clone() for k, v in ref.state_dict().items()}
    old = _to_old_arch(basicsr, SMALL["num_block"])
    torch.save({"params_ema": basicsr, "params": {}}, tmp_path / "basicsr.pth")
    torch.save({"module." + k: v for k, v in old.items()}, tmp_path / "old.pth")
    lr = torch.rand(1, 3, 6, 6)
    with torch.no_grad():
        expected = ref(lr)
    outputs = []
    for f in ("basicsr.pth", "old.pth"):
        net = load_esrgan_state_dict(tmp_path / f, RRDBNet(**SMALL)).eval()
        with torch.no_grad():
            outputs.append(net(lr))
    assert torch.equal(outputs[0], expected) and torch.equal(outputs[1], expected)
    # load_model_file infers the RRDBNet from an ESRGAN file too
    lm = load_model_file(tmp_path / "old.pth")
    model, spec, meta = lm.module, lm.spec, lm.metadata
    assert lm.detail_variant is None and lm.name == "old"
    assert spec.arch == "rrdbnet" and spec.params == dict(SMALL, in_channels=3, out_channels=3)
    assert meta["layout"] == "esrgan-old"
    with torch.no_grad():
        assert torch.equal(model(lr), expected)


def test_esrgan_new_names(reference_rrdbnet):
    ren = {"conv_body": "trunk_conv", "conv_up1": "upconv1", "conv_up2": "upconv2", "conv_hr": "HRconv"}
    state = {}
    for k, v in reference_rrdbnet.state_dict().items():
        m = re.fullmatch(r"body\.(\d+)\.rdb(\d)\.(.*)", k)
        head, _, tail = k.partition(".")
        state[f"RRDB_trunk.{m[1]}.RDB{m[2]}.{m[3]}" if m else f"{ren.get(head, head)}.{tail}"] = v
    net = load_esrgan_state_dict({"state_dict": state}, RRDBNet(**SMALL))
    for k, v in reference_rrdbnet.state_dict().items():
        assert torch.equal(net.state_dict()[k], v)


def test_strict_errors_name_the_keys(reference_rrdbnet):
    state = dict(reference_rrdbnet.state_dict())
    del state["conv_hr.bias"]
    state["extra.weight"] = torch.zeros(1)
    with pytest.raises(CheckpointError, match=r"missing 1 key\(s\): conv_hr.bias; unexpected 1 key\(s\): extra"):
        load_esrgan_state_dict(state, RRDBNet(**SMALL))
    net = load_esrgan_state_dict(state, RRDBNet(**SMALL), strict=False)
    assert torch.equal(net.conv_first.weight, reference_rrdbnet.conv_first.weight)
    with pytest.raises(CheckpointError, match="conv_first.weight has shape"):
        load_esrgan_state_dict(reference_rrdbnet.state_dict(), RRDBNet(num_feat=16, num_block=3, num_grow=4))
    with pytest.raises(CheckpointError, match="not an ESRGAN/BasicSR"):
        load_esrgan_state_dict({"fc.weight": torch.zeros(1)}, RRDBNet(**SMALL))


def test_esrgan_into_dsrgan_trunk(tmp_path, reference_rrdbnet):
    old = _to_old_arch(reference_rrdbnet.state_dict(), SMALL["num_block"])
    torch.save(old, tmp_path / "psnr.pth")
    spec = _small_dsrgan_spec()
    gen = _randomise(build(spec), seed=9)
    before = gen.detail_reduce[0].weight.clone()
    load_esrgan_into_trunk(tmp_path / "psnr.pth", gen)
    assert torch.equal(gen.detail_reduce[0].weight, before)  # the detail branch is untouched
    lr, d = torch.rand(1, 3, 6, 6), torch.randn(1, 1, 6, 6)
    with torch.no_grad():
        sr0, _ = gen(lr, d, detail_strength=0.0)
        assert torch.equal(sr0, reference_rrdbnet(lr))  # the trunk is now exactly the ESRGAN model
    wrong = RRDBNet(num_feat=8, num_block=2, num_grow=4).state_dict()
    with pytest.raises(CheckpointError, match=r"missing .*body\.2\."):
        load_esrgan_into_trunk(wrong, build(spec))


def test_esrgan_x4_layout_fits_dsrgan_x4_trunk():
    # the full-size trunk has exactly the ESRGAN x4 keys and shapes (checked on the meta device)
    with torch.device("meta"):
        esr = build("esrgan-x4").state_dict()
        gen = build("dsrgan-x4").state_dict()
    trunk = {k: v.shape for k, v in gen.items() if not k.startswith(("detail_", "attention."))}
    assert trunk == {k: v.shape for k, v in esr.items()}


def test_resolve_model(tmp_path, monkeypatch):
    monkeypatch.setattr(bundled_mod, "BUNDLED_DIR", tmp_path / "files")
    with pytest.raises(UnknownModelError, match="not bundled in this build yet"):
        resolve_model("default")
    with pytest.raises(UnknownModelError, match="architecture preset"):
        resolve_model("dsrgan-x4")
    with pytest.raises(UnknownModelError, match="unknown model 'nope'"):
        resolve_model("nope")
    with pytest.raises(CheckpointError, match="not found"):
        resolve_model(str(tmp_path / "missing.safetensors"))
    f = tmp_path / "mine.safetensors"
    f.write_bytes(b"x")
    assert resolve_model(f) == f
    (tmp_path / "files").mkdir()
    spec = PRESETS["dsrgan-lite-x4"]
    save_model(tmp_path / "files" / "dsrgan-lite-x4.safetensors", build(spec), spec)
    assert resolve_model("default") == tmp_path / "files" / "dsrgan-lite-x4.safetensors"
    assert bundled_mod.bundled_models() == ["dsrgan-lite-x4"]
    assert load_model_file(resolve_model("default")).spec == spec


def test_errors_are_dsrgan_errors():
    assert issubclass(CheckpointError, DsrganError) and issubclass(UnknownModelError, DsrganError)


def test_refusal_messages_are_one_full_sentence_without_torch_advice(tmp_path):
    import argparse

    p = tmp_path / "objects.pth"
    torch.save({"w": torch.zeros(2), "extra": argparse.Namespace(a=1)}, p)  # how many training scripts save args
    good = tmp_path / "good.pth"
    torch.save({"conv_first.weight": torch.zeros(2, 3, 3, 3)}, good)
    cut = tmp_path / "cut.pth"
    cut.write_bytes(good.read_bytes()[:200])
    text = tmp_path / "notes.pth"
    text.write_text("hi\n")  # torch's legacy unpickler chokes on 'h' with a bare KeyError(105)
    for path, words in ((p, "Python objects besides tensors (argparse.Namespace)"), (cut, "truncated or corrupt"),
                        (tmp_path / "missing.pth", "not found"), (text, "damaged or of another format")):
        with pytest.raises(CheckpointError) as e:
            load_model_file(path)
        msg = str(e.value)
        assert words in msg, msg
        assert "\n" not in msg and "\x1b" not in msg and "weights_only" not in msg and "pytorch.org" not in msg
