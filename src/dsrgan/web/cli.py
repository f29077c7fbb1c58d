"""`dsrgan serve`: the web page. Standard library only at import time (fastapi/torch load inside `run`)."""

from __future__ import annotations

import argparse

from dsrgan import options
from dsrgan.errors import DsrganError
from dsrgan.options import arg


class WebExtraMissingError(DsrganError):
    """fastapi/uvicorn are not installed."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default 127.0.0.1: this machine only; 0.0.0.0 exposes it)")
    parser.add_argument("--port", type=arg(options.port, "--port", integer=True), default=7860,
                        help="port, 1-65535 (default 7860; 0 picks a free one)")
    parser.add_argument("--model", default="default",
                        help="bundled model name or checkpoint file to serve (default: the bundled model); "
                             "the other bundled models are offered on the page too")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default auto)")
    parser.add_argument("--dtype", default="auto", help="auto, fp32, bf16 or fp16 (default auto)")
    parser.add_argument("--tile", type=arg(options.tile, "--tile", integer=True, auto=True), default=None,
                        help=f"tile size used when the page leaves it empty, {options.MIN_TILE}-{options.MAX_TILE} "
                             "(default: chosen from the memory budget; 0: whole image at once)")
    parser.add_argument("--max-upload-mb", type=arg(options.megabytes, "--max-upload-mb"), default=20.0,
                        help="upload size limit (default 20)")
    parser.add_argument("--max-pixels", type=arg(options.max_pixels, "--max-pixels", integer=True), default=2_000_000,
                        help="input pixel limit, width x height (default 2000000; the output has 16x as many)")
    parser.add_argument("--queue", type=arg(options.count, "--queue", integer=True), default=8,
                        help="requests that may wait behind the running one before the server answers "
                             "'busy, try again' (default 8)")


def run(args) -> int:
    try:
        import fastapi  # noqa: F401
        import uvicorn  # noqa: F401

        from dsrgan.web import app as web_app
    except ImportError as e:
        raise WebExtraMissingError(f"`dsrgan serve` needs the web extra ({e.name} is missing): "
                                   "pip install 'dsrgan[web]'") from None
    from dsrgan.inference.api import load_model
    from dsrgan.web.config import MB, ServeConfig
    from dsrgan.web.model_pool import ModelPool, bundled_model_names
    from dsrgan.web.server import bind_socket, serve, url_of

    config = ServeConfig(max_upload_bytes=int(args.max_upload_mb * MB), max_pixels=args.max_pixels,
                         max_waiting=args.queue, default_tile=args.tile)

    def loader(name: str):
        return load_model(name, device=args.device, dtype=args.dtype)

    pool = ModelPool(loader, args.model, bundled_model_names(args.model))
    # Load the served model now: a bad name or file is a one-line error before the server starts listening.
    pool.get(args.model)
    loopback = args.host in ("127.0.0.1", "localhost", "::1")
    app = web_app.create_app(pool, config, allowed_hosts=web_app.LOOPBACK_HOSTS if loopback else None)
    sock = bind_socket(args.host, args.port)
    print(f"dsrgan serve: model {args.model!r} loaded; open {url_of(sock)}/ (Ctrl-C stops)", flush=True)
    try:
        serve(app, sock)
    finally:
        sock.close()
    return 0
