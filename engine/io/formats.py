"""Which format a path means, and save/load dispatched to it.

  http(s)://.../model.json, a folder with model.json, .../model.json, or a new folder -> TF.js
  *.keras, or a folder with config.json + model.weights.h5                              -> keras
  *.h5 / *.hdf5                                                                          -> h5
  *.engine                                                                               -> engine
"""
import os
import re

from engine.io import keras_h5, keras_v3, native, safety, subclassed, tfjs

FORMATS = {"tfjs": tfjs, "keras": keras_v3, "h5": keras_h5, "engine": native}
_FORMAT_NAMES = {"tfjs": "a TF.js model", "h5": "a Keras 2 .h5 file", "engine": "a .engine file"}


def detect_format(path, save_format=None):
    """The format name for `path` (or `save_format` if given)."""
    if save_format is not None:
        if save_format not in FORMATS:
            raise ValueError(f"Unknown save_format '{save_format}'; expected one of "
                             f"{', '.join(FORMATS)}")
        return save_format
    path = os.fspath(path)
    lower = path.lower()
    if re.match(r"https?://", lower) or lower.endswith("model.json"):
        return "tfjs"
    if lower.endswith(".keras"):
        return "keras"
    if lower.endswith((".h5", ".hdf5")):
        return "h5"
    if lower.endswith(".engine"):
        return "engine"
    if os.path.isdir(path):
        if os.path.exists(os.path.join(path, keras_v3.CONFIG)):
            return "keras"
        return "tfjs"
    if os.path.splitext(path.rstrip("/\\"))[1] == "" or path.endswith(("/", "\\")):
        return "tfjs"
    raise ValueError(f"Cannot tell the format of '{path}': use a folder or model.json "
                     f"(TF.js), .keras, .h5 or .engine, or pass save_format=")


def save_model(model, path, save_format=None, include_optimizer=True):
    """Save architecture, weights and (where the format holds it) optimizer state."""
    path = os.fspath(path)
    save_format = detect_format(path, save_format)
    if save_format != "keras" and subclassed.is_subclassed(model):
        raise ValueError(f"A subclassed model ({type(model).__name__}) cannot be saved as "
                         f"{_FORMAT_NAMES[save_format]}: those files rebuild a model from its "
                         f"list of layers, and its call is Python code. Save it as .keras "
                         f"(load_model with custom_objects), or use save_weights")
    FORMATS[save_format].save(model, path, include_optimizer=include_optimizer)


def load_model(path, custom_objects=None, compile=True):
    """A model from any supported file, folder or http(s) URL of a TF.js model.json."""
    path = os.fspath(path)
    if not re.match(r"https?://", path) and not os.path.exists(path):
        raise FileNotFoundError(f"No model file or folder at '{path}'")
    return FORMATS[detect_format(path)].load(path, custom_objects=custom_objects,
                                             compile=compile)


def save_weights(model, path):
    """Weights only, in Keras 3's .weights.h5 layout."""
    path = os.fspath(path)
    if not path.endswith(".weights.h5"):
        raise ValueError(f"The filename must end in `.weights.h5`. Received: filepath={path}")
    data = keras_v3.weights_h5(model, include_optimizer=False)
    with safety.atomic_file(path) as temporary, open(temporary, "wb") as handle:
        handle.write(data)


def load_weights(model, path):
    """Load a .weights.h5 file into `model` (all checked before any weight changes)."""
    path = os.fspath(path)
    unbuilt = [layer.name for layer in model.layers if not layer.built]
    if unbuilt:  # its weights do not exist yet (a subclassed model makes them when called)
        raise ValueError(f"Cannot load weights into model '{model.name}': its layers "
                         f"{unbuilt} are not built yet. Call the model on a batch first "
                         f"(model(x)), then load_weights")
    keras_v3.load_weights_h5(model, safety.read_file(path), path, optimizer=False)
