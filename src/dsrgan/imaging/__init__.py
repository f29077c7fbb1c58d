"""dsrgan.imaging"""
