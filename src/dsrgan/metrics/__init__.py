"""dsrgan.metrics"""
