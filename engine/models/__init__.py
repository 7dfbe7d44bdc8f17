"""Models: Sequential, the functional Model, and their training methods."""
from engine.models.functional import Functional, Model  # noqa: F401
from engine.models.sequential import Sequential  # noqa: F401


def load_model(filepath, custom_objects=None, compile=True):
    """A model from a TF.js model.json / folder / http(s) URL, .keras, .h5 or .engine file."""
    from engine.io import load_model as load

    return load(filepath, custom_objects=custom_objects, compile=compile)
