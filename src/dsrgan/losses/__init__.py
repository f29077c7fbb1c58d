"""dsrgan.losses"""
