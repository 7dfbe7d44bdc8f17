"""Optimizers with Keras 3's update rules, names and configs, and learning-rate schedules."""
from engine.optimizers import schedules
from engine.optimizers.adagrad import Adadelta, Adagrad
from engine.optimizers.adam import Adam, Adamax, AdamW
from engine.optimizers.base import Optimizer
from engine.optimizers.rmsprop import RMSprop
from engine.optimizers.sgd import SGD

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "Adamax", "RMSprop", "Adagrad", "Adadelta",
           "schedules", "get", "serialize", "deserialize"]

_BY_NAME = {cls.__name__.lower(): cls
            for cls in (SGD, Adam, AdamW, Adamax, RMSprop, Adagrad, Adadelta)}


def serialize(optimizer):
    """Keras's serialized form: {"module", "class_name", "config", "registered_name"}."""
    return {"module": "keras.optimizers", "class_name": type(optimizer).__name__,
            "config": optimizer.get_config(), "registered_name": None}


def deserialize(config):
    """An optimizer from serialize()'s dict (or Keras's), or from {"class_name", "config"}."""
    cls = _lookup(config.get("class_name", ""))
    return cls.from_config(dict(config.get("config", {})))


def get(identifier):
    """An Optimizer from a name ("adam"), a serialized config, or an Optimizer (returned)."""
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, str):
        return _lookup(identifier)()
    if isinstance(identifier, dict):
        return deserialize(identifier)
    raise TypeError(f"Could not interpret optimizer identifier: {identifier!r}")


def _lookup(name):
    key = str(name).lower()
    if key not in _BY_NAME:
        raise ValueError(f"Unknown optimizer '{name}'. Known optimizers: "
                         f"{', '.join(cls.__name__ for cls in _BY_NAME.values())}")
    return _BY_NAME[key]
