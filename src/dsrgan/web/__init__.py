"""dsrgan.web: the `dsrgan serve` page (optional extra: `pip install dsrgan[web]`).

Nothing is imported here: the CLI parser imports `dsrgan.web.cli`, which needs only the standard library.
The server lives in `dsrgan.web.app` (FastAPI) and is imported by `dsrgan serve` when it runs.
"""
