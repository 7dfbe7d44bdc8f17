"""Weights and optimizer state of a model as named NumPy arrays, and putting them back:
every array is checked against its variable before any variable changes."""
import numpy as np

import engine
from engine.io.safety import ModelFileError
from engine.io.serialize import relative_weight_names, short_name, weight_layers


def named_weights(model, through_models=False):
    """[("<layer>/<weight>", variable)] for every weight, layer by layer (Keras order). With
    `through_models`, a nested model's weights are named through it, "<model>/<layer>/<weight>":
    unique even where layers of two nested models share a name (TF.js's names are not)."""
    if not through_models:
        return [(f"{layer.name}/{short_name(layer, variable)}", variable)
                for layer in weight_layers(model) for variable in layer.weights]
    names = {key: name for layer in model.layers
             for key, name in relative_weight_names(layer).items()}
    return [(names[id(variable)], variable)
            for layer in weight_layers(model) for variable in layer.weights]


def layer_weights(model):
    """[(layer, [variables])] for model.layers in Keras's legacy .h5 order: each layer's (a
    nested model's as a whole) trainable then non-trainable weights."""
    return [(layer, layer.trainable_weights + layer.non_trainable_weights)
            for layer in model.layers]


def to_numpy(variable):
    return np.array(variable.numpy(), order="C")  # (ascontiguousarray makes 0-d arrays 1-d)


def assign(pairs, source):
    """Assign each array to its variable after checking every shape; nothing changes if one
    does not fit."""
    checked = []
    for variable, array in pairs:
        array = np.asarray(array)
        if tuple(array.shape) != tuple(variable.shape):
            raise ModelFileError(source, f"weight '{variable.name}' has shape "
                                         f"{tuple(array.shape)} in the file but "
                                         f"{tuple(variable.shape)} in the model")
        checked.append((variable, array))
    for variable, array in checked:
        variable.assign(engine.tensor(array.astype(variable.dtype, copy=False),
                                      dtype=variable.dtype, backend=variable.backend))


def match_by_name(model, arrays, source, through_models=False):
    """Pair the model's weights with `arrays` {name: array} the way TF.js does (by name, named as
    named_weights names them), also accepting Keras 2 RNN names 'lstm/lstm_cell/kernel'. Every
    weight must be matched, and every array used."""
    by_name = {_canonical_name(name): (name, array) for name, array in arrays.items()}
    pairs, used = [], set()
    for name, variable in named_weights(model, through_models):
        found = by_name.get(name)
        if found is None:
            raise ModelFileError(source, f"no weight named '{name}' in the file (it has "
                                         f"{', '.join(sorted(arrays)) or 'none'})")
        used.add(found[0])
        pairs.append((variable, found[1]))
    extra = sorted(set(arrays) - used)
    if extra:
        raise ModelFileError(source, f"weights {extra} have no target variable in the model")
    return pairs


def _canonical_name(name):
    """The name without a Keras 2 RNN cell's scope: 'lstm/lstm_cell/kernel' -> 'lstm/kernel',
    'bidirectional/forward_lstm/lstm_cell/kernel' -> 'bidirectional/forward_lstm/kernel'."""
    parts = name.split("/")
    return "/".join(part for index, part in enumerate(parts)
                    if not (0 < index < len(parts) - 1 and part.endswith("_cell")))


# ---------------------------------------------------------------------------- optimizer


def optimizer_variables(model, built=True):
    """The optimizer's variables in Keras order; with `built`, its slots are first created for
    every trainable weight (so a fresh model and one that has trained list the same ones)."""
    optimizer = getattr(model, "optimizer", None)
    if optimizer is None:
        return []
    if built:
        optimizer.build(model.trainable_weights)
    return list(optimizer.variables())


def restore_optimizer(model, arrays, source):
    """Put saved optimizer variables back (count and shapes checked first). A file from an
    optimizer that never stepped holds only its iteration and learning rate."""
    variables = optimizer_variables(model, built=False)
    if len(arrays) != len(variables):
        variables = optimizer_variables(model)
    if len(variables) != len(arrays):
        raise ModelFileError(source, f"the file holds {len(arrays)} optimizer variables but "
                                     f"the model's {type(model.optimizer).__name__} has "
                                     f"{len(variables)}")
    assign(list(zip(variables, arrays)), source)
