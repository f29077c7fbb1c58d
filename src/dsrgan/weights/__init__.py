"""dsrgan.weights"""
