"""dsrgan.inference"""
