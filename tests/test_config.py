"""Typed training config: every shipped config validates; typos, wrong types and bad overrides are ConfigErrors."""

from __future__ import annotations

from pathlib import Path

import pytest

from dsrgan.errors import ConfigError
from dsrgan.train.config import Config, apply_overrides, dump_yaml, from_dict, load_config, load_raw

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
PAPER = ["dsrgan_x4", "ablation_no1", "ablation_no1_parity", "ablation_no2", "ablation_no3", "ablation_no4",
         "dsrgan_gif_x4", "dsrgan_msdm_x4", "psnr_x4"]
LITE = ["lite_dsrgan_psnr", "lite_dsrgan_gan", "lite_esrgan_psnr", "lite_esrgan_gan"]


@pytest.mark.parametrize("name", PAPER + LITE)
def test_shipped_configs_validate(name):
    cfg = load_config(CONFIGS / f"{name}.yaml")
    assert cfg.name == name
    from dsrgan.archs import PRESETS

    assert cfg.model.preset in PRESETS


def test_paper_recipe_values():
    """Section IV-B numbers, as written in the paper."""
    c = load_config(CONFIGS / "dsrgan_x4.yaml")
    assert (c.loss.pixel, c.loss.perceptual, c.loss.gan, c.loss.detail_pixel, c.loss.detail_gan) == \
        (0.2, 1.0, 0.005, 0.5, 0.005)
    assert c.loss.d_weight == 1.0 and c.loss.perceptual_net == "vgg19" and c.loss.perceptual_layer == "conv5_4"
    assert c.optim.lr_g == c.optim.lr_d == 1e-4 and c.optim.betas == [0.9, 0.999]
    assert c.optim.milestones == [50000, 100000, 200000, 300000] and c.optim.gamma == 0.5
    assert c.train.iterations == 400000 and c.train.batch_size == 20 and c.data.hr_patch == 128
    assert c.train.stage == "gan"


def test_ablations_differ_from_the_paper_config_as_table_i_says():
    full = load_config(CONFIGS / "ablation_no4.yaml")
    no1, no2, no3 = (load_config(CONFIGS / f"ablation_no{i}.yaml") for i in (1, 2, 3))
    assert full.model.preset == "dsrgan-x4"
    assert no1.model.preset == "esrgan-x4-27b" and no1.loss.detail_pixel == no1.loss.detail_gan == 0
    parity = load_config(CONFIGS / "ablation_no1_parity.yaml")
    assert parity.model.preset == "esrgan-x4-32b"  # the parameter-matched baseline: only the block count differs
    assert (parity.loss, parity.optim, parity.train, parity.init) == (no1.loss, no1.optim, no1.train, no1.init)
    assert no2.model.preset == "dsrgan-x4-noattn" and no2.loss.detail_pixel == 0.5 and no2.loss.detail_gan == 0
    assert no3.model.preset == "dsrgan-x4-noattn" and no3.loss.detail_gan == 0.005
    for c in (no1, no2, no3):  # everything else is the paper's recipe
        assert (c.loss.pixel, c.loss.perceptual, c.loss.gan) == (0.2, 1.0, 0.005)
        assert c.optim == full.optim and c.train.iterations == full.train.iterations


def test_lite_perceptual_is_the_named_vgg16_substitute():
    for name in ("lite_dsrgan_gan", "lite_esrgan_gan"):
        c = load_config(CONFIGS / f"{name}.yaml")
        assert c.loss.perceptual_net == "vgg16" and c.loss.perceptual > 0
    twin, full = load_config(CONFIGS / "lite_esrgan_gan.yaml"), load_config(CONFIGS / "lite_dsrgan_gan.yaml")
    assert twin.train.iterations == full.train.iterations and twin.train.batch_size == full.train.batch_size
    assert twin.data.train == full.data.train and twin.loss.detail_pixel == twin.loss.detail_gan == 0


def test_misspelt_key_names_the_nearest_valid_one():
    with pytest.raises(ConfigError, match=r"unknown config key 'train\.batchsize'.*did you mean 'train\.batch_size'"):
        from_dict({"train": {"batchsize": 4}})
    with pytest.raises(ConfigError, match=r"'modle'.*did you mean 'model'"):
        from_dict({"modle": {}})
    with pytest.raises(ConfigError, match=r"'loss\.detail_pix'.*'loss\.detail_pixel'"):
        load_config(None, ["loss.detail_pix=0.5"])


def test_type_errors_name_key_and_value():
    with pytest.raises(ConfigError, match=r"train\.batch_size: expected an integer, got 'abc'"):
        load_config(None, ["train.batch_size=abc"])
    with pytest.raises(ConfigError, match=r"train\.batch_size: expected an integer, got True"):
        from_dict({"train": {"batch_size": True}})
    with pytest.raises(ConfigError, match=r"train\.stage: 'gann' is not one of"):
        from_dict({"train": {"stage": "gann"}})
    with pytest.raises(ConfigError, match=r"optim\.milestones\[1\]: expected an integer"):
        from_dict({"optim": {"milestones": [1, "x"]}})
    with pytest.raises(ConfigError, match=r"train: expected a mapping"):
        from_dict({"train": 3})


def test_value_checks():
    with pytest.raises(ConfigError, match="stage is 'psnr' but loss.gan"):
        from_dict({"loss": {"gan": 0.005}})
    with pytest.raises(ConfigError, match="milestones must be increasing"):
        from_dict({"optim": {"milestones": [10, 5]}})
    with pytest.raises(ConfigError, match="at most one of init.generator and init.trunk"):
        from_dict({"init": {"generator": "a", "trunk": "b"}})


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
    assert set(yaml.safe_load(text)) == {f for f in Config.__dataclass_fields__}


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
    assert "name: x" in out and "perceptual_net: vgg16" in out


def test_best_metric_names_the_ssim_variant():
    cfg = load_config(CONFIGS / "lite_dsrgan_psnr.yaml", ["log.best_metric=ssim_wang2009"])
    assert cfg.log.best_metric == "ssim_wang2009"
    with pytest.raises(ConfigError, match="best_metric"):
        load_config(CONFIGS / "lite_dsrgan_psnr.yaml", ["log.best_metric=ssim"])  # which SSIM? say it
