"""`dsrgan train CONFIG [--set key=value ...] [--resume auto|PATH]`, `dsrgan train --schema [FILE]` (stdlib imports
only at module level)."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", nargs="?", help="YAML config (see configs/); its keys are checked, typos are errors")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config value, e.g. --set train.batch_size=8 (value parsed as YAML); "
                             "repeatable")
    parser.add_argument("--resume", metavar="auto|PATH", default=None,
                        help="continue from a checkpoint: 'auto' = the latest in the run folder (or start fresh)")
    parser.add_argument("--name", default=None, help="run name (folder under log.root); same as --set name=...")
    parser.add_argument("--device", default=None, help="auto, cpu, cuda, cuda:N (same as --set train.device=...)")
    parser.add_argument("--print-config", action="store_true",
                        help="print the fully resolved config and exit without training")
    parser.add_argument("--schema", nargs="?", const="-", metavar="FILE",
                        help="write the config's JSON schema (for editors) to FILE, or print it, and exit")


def run(args) -> int:
    from dsrgan.errors import ConfigError
    from dsrgan.train.config import dump_yaml, load_config

    if args.schema is not None:
        return write_schema(args.schema)
    if args.config is None:
        raise ConfigError("give a config file, e.g. dsrgan train configs/smoke.yaml")

    overrides = list(args.overrides)
    if args.name:
        overrides.append(f"name={args.name}")
    if args.device:
        overrides.append(f"train.device={args.device}")
    cfg = load_config(args.config, overrides)
    if args.print_config:
        print(dump_yaml(cfg), end="")
        return 0
    from dsrgan.train import distributed
    from dsrgan.train.trainer import Trainer

    info = distributed.from_env()
    try:
        trainer = Trainer(cfg, resume=args.resume, dist_info=info)
        trainer.setup()
        out = trainer.fit()
    finally:
        distributed.shutdown()
    if out is not None:
        print(out)
    return 0


def write_schema(dest: str) -> int:
    import json

    from dsrgan.train.config import json_schema

    text = json.dumps(json_schema(), indent=2) + "\n"
    if dest == "-":
        print(text, end="")
        return 0
    from dsrgan.utils.atomic import atomic_write_text

    atomic_write_text(dest, text)
    return 0
