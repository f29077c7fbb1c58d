"""dsrgan.train"""
