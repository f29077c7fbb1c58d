"""dsrgan.archs"""
