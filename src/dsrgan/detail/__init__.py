"""dsrgan.detail"""
