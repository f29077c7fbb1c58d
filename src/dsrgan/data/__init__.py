"""dsrgan.data"""
