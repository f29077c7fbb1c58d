"""Typed training config: every shipped config validates; typos, wrong types and bad overrides are ConfigErrors."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from dsrgan.errors import ConfigError
from dsrgan.train.config import Config, apply_overrides, dump_yaml, from_dict, load_config, load_raw

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
PAPER = ["dsrgan_x4", "ablation_no1", "ablation_no1_parity", "ablation_no2", "ablation_no3", "ablation_no4",
         "dsrgan_gif_x4", "dsrgan_msdm_x4", "psnr_x4"]
LITE = ["lite_dsrgan_psnr", "lite_dsrgan_gan", "lite_esrgan_psnr", "lite_esrgan_gan", "smoke"]


def weights(cfg) -> dict[str, float]:
    return {t.__struct_config__.tag: t.weight for t in cfg.loss}


@pytest.mark.parametrize("name", PAPER + LITE)
def test_shipped_configs_validate(name):
    cfg = load_config(CONFIGS / f"{name}.yaml")
    assert cfg.name == name
    from dsrgan.archs import PRESETS

    assert cfg.model.preset in PRESETS


def test_paper_recipe_values():
    """Section IV-B numbers, as written in the paper."""
    c = load_config(CONFIGS / "dsrgan_x4.yaml")
    assert weights(c) == {"pixel": 0.2, "perceptual": 1.0, "gan": 0.005, "detail_pixel": 0.5, "detail_gan": 0.005}
    per = next(t for t in c.loss if t.__struct_config__.tag == "perceptual")
    assert per.net == "vgg19" and per.layer == "conv5_4"
    assert [t.d_weight for t in c.loss if t.adversarial] == [1.0, 1.0]
    assert c.optim.lr_g == c.optim.lr_d == 1e-4 and c.optim.betas == [0.9, 0.999]
    assert c.optim.milestones == [50000, 100000, 200000, 300000] and c.optim.gamma == 0.5
    assert c.train.iterations == 400000 and c.train.batch_size == 20 and c.data.hr_patch == 128
    assert c.train.stage == "gan"


def test_ablations_differ_from_the_paper_config_as_table_i_says():
    full = load_config(CONFIGS / "ablation_no4.yaml")
    no1, no2, no3 = (load_config(CONFIGS / f"ablation_no{i}.yaml") for i in (1, 2, 3))
    assert full.model.preset == "dsrgan-x4"
    w1, w2, w3 = weights(no1), weights(no2), weights(no3)
    assert no1.model.preset == "esrgan-x4-27b" and w1["detail_pixel"] == w1["detail_gan"] == 0
    parity = load_config(CONFIGS / "ablation_no1_parity.yaml")
    assert parity.model.preset == "esrgan-x4-32b"  # the parameter-matched baseline: only the block count differs
    assert (parity.loss, parity.optim, parity.train, parity.init) == (no1.loss, no1.optim, no1.train, no1.init)
    assert no2.model.preset == "dsrgan-x4-noattn" and w2["detail_pixel"] == 0.5 and w2["detail_gan"] == 0
    assert no3.model.preset == "dsrgan-x4-noattn" and w3["detail_gan"] == 0.005
    for c, w in zip((no1, no2, no3), (w1, w2, w3), strict=True):  # everything else is the paper's recipe
        assert (w["pixel"], w["perceptual"], w["gan"]) == (0.2, 1.0, 0.005)
        assert c.optim == full.optim and c.train.iterations == full.train.iterations


def test_lite_perceptual_is_the_named_vgg16_substitute():
    for name in ("lite_dsrgan_gan", "lite_esrgan_gan"):
        c = load_config(CONFIGS / f"{name}.yaml")
        per = next(t for t in c.loss if t.__struct_config__.tag == "perceptual")
        assert per.net == "vgg16" and per.layer == "conv5_3" and per.weight > 0
    twin, full = load_config(CONFIGS / "lite_esrgan_gan.yaml"), load_config(CONFIGS / "lite_dsrgan_gan.yaml")
    assert twin.train.iterations == full.train.iterations and twin.train.batch_size == full.train.batch_size
    assert twin.data.train == full.data.train and weights(twin)["detail_pixel"] == weights(twin)["detail_gan"] == 0


def test_misspelt_key_names_the_nearest_valid_one():
    with pytest.raises(ConfigError, match=r"unknown config key 'train\.batchsize'.*did you mean 'train\.batch_size'"):
        from_dict({"train": {"batchsize": 4}})
    with pytest.raises(ConfigError, match=r"'modle'.*did you mean 'model'"):
        from_dict({"modle": {}})
    with pytest.raises(ConfigError, match=r"'loss\.perceptual\.layr'.*did you mean 'loss\.perceptual\.layer'"):
        load_config(None, ["loss.perceptual.weight=1", "loss.perceptual.layr=conv5_4"])
    with pytest.raises(ConfigError, match=r"loss\.detail_pix\.type: unknown loss type 'detail_pix' \(did you mean "
                                          r"'detail_pixel'\?\)"):
        load_config(None, ["loss.detail_pix.weight=0.5"])


def test_type_and_range_errors_name_key_and_value():
    with pytest.raises(ConfigError, match=r"^train\.batch_size: expected int, got 'abc'$"):
        load_config(None, ["train.batch_size=abc"])
    with pytest.raises(ConfigError, match=r"^train\.batch_size: expected int, got True$"):
        from_dict({"train": {"batch_size": True}})
    with pytest.raises(ConfigError, match=r"^train\.stage: 'gann' is not one of 'psnr', 'gan'$"):
        from_dict({"train": {"stage": "gann"}})
    with pytest.raises(ConfigError, match=r"^optim\.milestones\[1\]: expected int, got 'x'$"):
        from_dict({"optim": {"milestones": [1, "x"]}})
    with pytest.raises(ConfigError, match=r"^train: expected object, got 3$"):
        from_dict({"train": 3})
    with pytest.raises(ConfigError, match=r"^train\.batch_size: expected int >= 1, got 0$"):
        load_config(None, ["train.batch_size=0"])
    with pytest.raises(ConfigError, match=r"^loss\.gan\.weight: expected float >= 0.0, got -1$"):
        load_config(None, ["train.stage=gan", "loss.gan.weight=-1"])
    with pytest.raises(ConfigError, match=r"^loss\.pixel: missing key 'weight'$"):
        from_dict({"loss": [{"type": "pixel"}]})
    with pytest.raises(ConfigError, match=r"^train\.ema_decay: expected float < 1"):
        load_config(None, ["train.ema_decay=1"])
    with pytest.raises(ConfigError, match=r"^optim\.lr_g: expected float > 0"):
        load_config(None, ["optim.lr_g=0"])
    with pytest.raises(ConfigError, match=r"^optim\.betas: expected array of length <= 2"):
        load_config(None, ["optim.betas=[0.9, 0.99, 0.5]"])


@pytest.mark.parametrize("override, message", [
    ("data.hr_patch=30", r"data\.hr_patch must be a multiple of the model's scale 4, got 30"),
    ("data.hr_patch=4", r"data\.hr_patch: expected int >= 8, got 4"),
    ("optim.milestones=[10, 10]", r"optim\.milestones must be strictly increasing"),
    ("loss.perceptual.weight=1", None),  # valid
    ("loss.perceptual.net=vgg11", r"loss\.perceptual\.net: "),
    ("loss=[{type: pixel, weight: 1}, {type: perceptual, weight: 1, layer: conv9_9}]",
     r"loss\.perceptual: layer 'conv9_9' is not a layer of vgg19; choose from conv1_1"),
    ("loss=[]", r"loss: no entry has a positive weight"),
    ("loss=[{type: pixel, weight: 1}, {type: pixel, weight: 2}]", r"loss: each type may appear once"),
    ("model.preset=dsrgan-lite-x3",
     r"model\.preset: unknown preset 'dsrgan-lite-x3' \(did you mean 'dsrgan-lite-x4'\?\)"),
    ("data.train=[]", r"data\.train is empty"),
    ("log.print_every=0", r"log\.print_every: expected int >= 1, got 0"),
    ("loss=[{type: pixel, weight: 1}, {type: colour, weight: 1, block: 256}]",
     r"loss\.colour: block 256 is larger than data\.hr_patch 128"),
    ("loss=[{type: pixel, weight: 1}, {type: colour, weight: 1, block: 1}]", r"block: expected int >= 2"),
    ("loss=[{type: pixel, weight: 1}, {type: colour, weight: 1, blocks: 8}]", r"unknown config key .*blocks"),
    ("data.num_workers=-2", r"data\.num_workers: expected int >= -1, got -2"),
])
def test_every_constraint_is_a_one_line_error_naming_the_key(override, message):
    base = CONFIGS / "lite_dsrgan_psnr.yaml"
    if message is None:
        load_config(base, [override])
        return
    with pytest.raises(ConfigError, match=message) as e:
        load_config(base, [override])
    assert "\n" not in str(e.value)


def test_rules_between_stage_model_and_losses():
    gan = CONFIGS / "lite_dsrgan_gan.yaml"
    with pytest.raises(ConfigError, match=r"loss\.gan: adversarial terms need train\.stage: gan"):
        load_config(gan, ["train.stage=psnr"])
    with pytest.raises(ConfigError, match=r"multiple of 32 for the discriminators"):
        load_config(gan, ["data.hr_patch=48"])
    with pytest.raises(ConfigError, match=r"patch_size \(64\) must equal data\.hr_patch \(128\)"):
        load_config(gan, ["model.discriminator_params={patch_size: 64}"])
    with pytest.raises(ConfigError, match=r"loss\.detail_pixel: model esrgan-lite-x4 has no detail path"):
        load_config(gan, ["model.preset=esrgan-lite-x4", "loss.detail_gan.weight=0"])
    load_config(gan, ["data.hr_patch=48", "train.stage=psnr", "loss.gan.weight=0", "loss.detail_gan.weight=0"])


def test_old_configs_are_refused_with_the_new_form_spelled_out(tmp_path):
    (tmp_path / "old.yaml").write_text("train: {stage: gan}\nloss:\n  pixel: 0.2\n  perceptual: 1.0\n"
                                       "  perceptual_net: vgg16\n  perceptual_layer: conv5_3\n  gan: 0.005\n")
    with pytest.raises(ConfigError) as e:
        load_config(tmp_path / "old.yaml")
    msg = str(e.value)
    assert "old mapping" in msg and "\n" not in msg
    new = msg.split("write `")[1].rstrip("`")
    (tmp_path / "new.yaml").write_text(f"train: {{stage: gan}}\n{new}\n")
    assert weights(load_config(tmp_path / "new.yaml")) == {"pixel": 0.2, "perceptual": 1.0, "gan": 0.005}
    with pytest.raises(ConfigError, match="model.discriminator: this key was removed"):
        from_dict({"model": {"discriminator": "vgg128"}})


def test_missing_data_folders_say_how_to_point_elsewhere(tmp_path):
    from dsrgan.train.config import check_folders

    cfg = load_config(CONFIGS / "lite_dsrgan_psnr.yaml", [f"log.root={tmp_path}"])
    assert cfg.data.train == ["data/train"] and cfg.data.val == ["data/val"]  # placeholders
    with pytest.raises(ConfigError, match=r"data\.train: folder 'data/train' not found; .*--set data\.train=\[DIR\]"):
        check_folders(cfg)
    (tmp_path / "t").mkdir()
    cfg = load_config(CONFIGS / "lite_dsrgan_psnr.yaml", [f"data.train=[{tmp_path / 't'}]", "data.val=[/nowhere]"])
    with pytest.raises(ConfigError, match=r"data\.val: folder '/nowhere' not found"):
        check_folders(cfg)


def test_loss_entries_merge_by_type_and_are_addressed_by_type(tmp_path):
    (tmp_path / "child.yaml").write_text(f"inherit: {CONFIGS / 'dsrgan_x4.yaml'}\nloss: [{{type: gan, weight: 0.01}}, "
                                         "{type: perceptual, net: vgg16, layer: conv5_3}]\n")
    c = load_config(tmp_path / "child.yaml", ["loss.detail_gan.d_weight=0.5"])
    assert weights(c) == {"pixel": 0.2, "perceptual": 1.0, "gan": 0.01, "detail_pixel": 0.5, "detail_gan": 0.005}
    per = next(t for t in c.loss if t.__struct_config__.tag == "perceptual")
    assert (per.net, per.layer) == ("vgg16", "conv5_3")
    assert [t.d_weight for t in c.loss if t.adversarial] == [1.0, 0.5]


def test_json_schema_describes_the_config(tmp_path, capsys):
    import json

    from dsrgan.cli import main

    out = tmp_path / "schema.json"
    assert main(["train", "--schema", str(out)]) == 0
    schema = json.loads(out.read_text())
    defs = schema["$defs"]
    assert defs["TrainConfig"]["properties"]["batch_size"]["minimum"] == 1
    assert defs["TrainConfig"]["additionalProperties"] is False
    tags = {d["properties"]["type"]["enum"][0] for d in defs.values() if "type" in d.get("properties", {})
            and "enum" in d["properties"]["type"]}
    assert tags == {"pixel", "perceptual", "gan", "detail_pixel", "detail_gan", "colour"}
    assert main(["train", "--schema"]) == 0 and json.loads(capsys.readouterr().out) == schema


def test_overrides_are_yaml_and_checked():
    c = load_config(CONFIGS / "lite_dsrgan_psnr.yaml",
                    ["train.batch_size=3", "model.params={num_block: 2}", "optim.milestones=[1, 2]",
                     "optim.lr_g=1e-3", "init.generator=null", "data.train=/x"])
    assert c.train.batch_size == 3 and c.model.params == {"num_block": 2} and c.optim.milestones == [1, 2]
    assert c.optim.lr_g == 1e-3 and c.data.train == ["/x"]
    for bad in ("train.batch_size", "=3", "train..x=1"):
        with pytest.raises(ConfigError, match="KEY=VALUE"):
            load_config(None, [bad])
    with pytest.raises(ConfigError, match="'name' is not a section"):
        apply_overrides({"name": "x"}, ["name.sub=1"])


def test_resolved_config_round_trips(tmp_path):
    import yaml

    c = load_config(CONFIGS / "ablation_no2.yaml", ["train.seed=7"])
    text = dump_yaml(c)
    (tmp_path / "c.yaml").write_text(text)
    assert load_config(tmp_path / "c.yaml") == c
    assert set(yaml.safe_load(text)) == set(Config.__struct_fields__)


def test_inheritance_and_file_errors(tmp_path):
    (tmp_path / "a.yaml").write_text("inherit: b.yaml\nname: a\n")
    (tmp_path / "b.yaml").write_text("inherit: a.yaml\n")
    with pytest.raises(ConfigError, match="inheritance loop"):
        load_raw(tmp_path / "a.yaml")
    (tmp_path / "bad.yaml").write_text("train: [1, 2\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_raw(tmp_path / "bad.yaml")
    with pytest.raises(ConfigError, match="config file not found"):
        load_raw(tmp_path / "missing.yaml")
    (tmp_path / "list.yaml").write_text("- 1\n")
    with pytest.raises(ConfigError, match="top level must be a mapping"):
        load_raw(tmp_path / "list.yaml")


def test_cli_reports_config_errors_in_one_line(capsys):
    from dsrgan.cli import main

    code = main(["train", str(CONFIGS / "lite_dsrgan_psnr.yaml"), "--set", "train.batchsize=2"])
    err = capsys.readouterr().err
    assert code != 0 and "Traceback" not in err
    assert err.startswith("dsrgan train: error: unknown config key 'train.batchsize'")


def test_cli_print_config(capsys):
    from dsrgan.cli import main

    assert main(["train", str(CONFIGS / "lite_dsrgan_gan.yaml"), "--print-config", "--name", "x"]) == 0
    out = capsys.readouterr().out
    assert "name: x" in out and "{type: perceptual, net: vgg16, layer: conv5_3" in out


def test_best_metric_names_the_ssim_variant():
    cfg = load_config(CONFIGS / "lite_dsrgan_psnr.yaml", ["log.best_metric=ssim_wang2009"])
    assert cfg.log.best_metric == "ssim_wang2009"
    with pytest.raises(ConfigError, match="best_metric"):
        load_config(CONFIGS / "lite_dsrgan_psnr.yaml", ["log.best_metric=ssim"])  # which SSIM? say it


class Extra(msgspec.Struct, forbid_unknown_fields=True):
    """A section as an extension adds one (with checks of its own)."""

    level: int = 1

    def __post_init__(self):
        if self.level > 5:
            raise ValueError("level: at most 5")


class WithExtra(Config):
    extra: Extra | None = None


def test_errors_inside_optional_sections_name_the_key_and_its_valid_keys(monkeypatch):
    """A section typed `X | None`: unknown keys still list X's keys, and errors raised by X's own checks are
    reported under the section's key without dumping its value."""
    from dsrgan.train import config as c

    monkeypatch.setattr(c, "Config", WithExtra)
    with pytest.raises(ConfigError, match=r"^unknown config key 'extra\.levl' \(did you mean 'extra\.level'\?\); "
                                          r"valid keys here: level$"):
        c.from_dict({"extra": {"levl": 2}})
    with pytest.raises(ConfigError, match=r"^extra: level: at most 5$"):
        c.from_dict({"extra": {"level": 9}})


def test_on_and_off_are_words_not_booleans_in_choice_fields(tmp_path):
    """YAML 1.1 reads on/off/yes/no as booleans; a choice field that offers "on"/"off" takes them as those words,
    from --set and from a config file alike. Fields without such a choice still refuse a boolean."""
    cfg = load_config(CONFIGS / "smoke.yaml", ["train.channels_last=on", "train.amp=off"])
    assert (cfg.train.channels_last, cfg.train.amp) == ("on", "off")
    child = tmp_path / "c.yaml"
    child.write_text(f"inherit: {CONFIGS / 'smoke.yaml'}\ntrain: {{channels_last: off, amp: no}}\n")
    cfg = load_config(child)
    assert (cfg.train.channels_last, cfg.train.amp) == ("off", "off")
    with pytest.raises(ConfigError, match="train.stage"):
        load_config(CONFIGS / "smoke.yaml", ["train.stage=on"])
    with pytest.raises(ConfigError, match="train.amp"):
        load_config(CONFIGS / "smoke.yaml", ["train.amp=on"])  # amp has no "on"
