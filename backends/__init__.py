"""Compute backends, one module each; every module registers itself when imported."""
