"""dsrgan.web"""
