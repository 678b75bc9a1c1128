"""Numeric building blocks shared by several layer kernels (activations, ...)."""
