"""ONNX export of the generators (`dsrgan export`) and the cached ONNX files the fast inference engines run."""
