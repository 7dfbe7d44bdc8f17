"""Models: Sequential, the functional Model, and their training methods."""
from engine.models.functional import Functional, Model  # noqa: F401
from engine.models.sequential import Sequential  # noqa: F401


def load_model(filepath, custom_objects=None, compile=True):
    """A model from a TF.js model.json / folder / http(s) URL, .keras, .h5 or .engine file."""
    from engine.io import load_model as load

    return load(filepath, custom_objects=custom_objects, compile=compile)


def model_from_json(json_string, custom_objects=None):
    """A model (fresh weights) from model.to_json()'s text, or Keras 2's, or a TF.js topology."""
    import json

    from engine.io.keras_v3 import model_from_keras_config

    return model_from_keras_config(json.loads(json_string), custom_objects)


def clone_model(model):
    """A new model of the same architecture with freshly initialised weights (Keras's
    clone_model for Sequential and functional models)."""
    return type(model).from_config(model.get_config())
