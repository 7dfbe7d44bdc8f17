"""A subclassed model's architecture as Keras 3 writes it: its class (found again through
custom_objects), its get_config() and the input shape of its first call; loading calls
from_config, then the model on zeros of that shape so that its layers make their weights."""
import inspect

import numpy as np

from engine.io import config_normalize
from engine.layers.base import is_shape

MODEL_CLASSES = ("Sequential", "Functional", "Model")


class UnknownModelError(ValueError):
    """A file holds a subclassed model whose class was not passed in custom_objects."""


def is_subclassed(model):
    """Whether `model` is a Model subclass with its own call (not Sequential or functional)."""
    from engine.io.serialize import is_model
    from engine.models import Model

    return isinstance(model, Model) and not is_model(model)


def is_subclassed_config(config):
    """Whether a Keras 3 config describes a subclassed model (no layer list to rebuild)."""
    return (isinstance(config, dict) and config.get("class_name") not in MODEL_CLASSES
            and isinstance(config.get("config"), dict) and "layers" not in config["config"])


def keras_config(model):
    """{"module", "class_name", "config", "registered_name", "build_config"}, as Keras's
    serialize_keras_object writes a subclassed model."""
    cls = type(model)
    if not model.built:
        raise ValueError(f"Cannot save subclassed model '{model.name}' ({cls.__name__}) before "
                         f"it is built: call it on a batch first (model(x))")
    config = dict(model.get_config())
    if not _accepts(cls, "name"):  # Keras's rule: a name the constructor cannot take goes
        config.pop("name", None)
    return {"module": cls.__module__, "class_name": cls.__name__,
            "config": config_normalize.layer_config_to_keras3(cls.__name__, config),
            "registered_name": cls.__name__,
            "build_config": {"input_shape": _first_input_shape(model)}}


def model_from_config(config, custom_objects=None):
    """The model of a Keras 3 subclassed-model config: cls.from_config, then built by a call
    on zeros of build_config's input shape (unknown dims 1)."""
    class_name = config["class_name"]
    objects = custom_objects or {}
    cls = objects.get(class_name) or objects.get(config.get("registered_name"))
    if cls is None:
        raise UnknownModelError(f"The file holds a subclassed model of class '{class_name}'; "
                                f"pass load_model(..., custom_objects={{'{class_name}': "
                                f"{class_name}}}) with your class to load it")
    inner = config_normalize.layer_config_from_keras3(class_name, config["config"])
    try:
        model = cls.from_config(inner)
    except TypeError as error:
        raise TypeError(f"{class_name}.from_config could not rebuild the model from its "
                        f"config {inner} ({error}); give {class_name} a get_config and "
                        f"from_config that match its __init__") from None
    shape = (config.get("build_config") or {}).get("input_shape")
    if shape is not None:
        model(_zeros(shape, model.dtype))
    return model


def _first_input_shape(model):
    """The input shape(s) of the model's first call (batch included), as Keras records it."""
    shape = getattr(model, "_first_call_shape", None) or model._build_input_shape
    return _as_lists(shape)


def _as_lists(shape):
    if is_shape(shape):
        return [None if d is None else int(d) for d in shape]
    return [_as_lists(item) for item in shape]


def _zeros(shape, dtype):
    if is_shape(shape):
        return np.zeros([1 if d is None else d for d in shape], dtype=dtype)
    return [_zeros(item, dtype) for item in shape]


def _accepts(cls, parameter):
    parameters = inspect.signature(cls.__init__).parameters
    return parameter in parameters or any(
        p.kind == p.VAR_KEYWORD for p in parameters.values())
