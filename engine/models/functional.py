"""Model: the functional API (a graph of layer calls from Input tensors to outputs).

`Model(inputs, outputs)` builds a Functional model; `Model()` subclassed with a `call` method
gives a subclassed model. Both train with compile/fit (models/training.py).
"""
import json
import os

import numpy as np

import engine
from engine.layers.base import InputSpec, Layer, unique_name
from engine.layers.input_layer import InputLayer
from engine.layers.keras_tensor import KerasTensor, flatten, is_symbolic, map_structure
from engine.models.functional_config import functional_config, functional_from_config
from engine.models.training import Trainer


class Model(Trainer, Layer):
    """A layer with training methods. Called with inputs and outputs, it is a Functional model."""

    def __new__(cls, *args, **kwargs):
        if cls is Model and (args or "inputs" in kwargs or "outputs" in kwargs):
            return super().__new__(Functional)
        if not issubclass(cls, Functional) and _functional_arguments(args, kwargs):
            return super().__new__(_functional_subclass(cls))
        return super().__new__(cls)

    def __init__(self, *args, **kwargs):
        Layer.__init__(self, *args, **kwargs)
        Trainer.__init__(self)

    def __call__(self, inputs, *args, **kwargs):
        if not self.built and not is_symbolic(inputs):  # Keras saves it as build_config
            self._first_call_shape = map_structure(lambda v: tuple(np.shape(v)), inputs)
        return super().__call__(inputs, *args, **kwargs)

    def _autocast(self, value):
        """Models leave inputs to their first layers (Functional: to the Input dtypes), so a
        float64 array reaches a float64 Input without a float32 detour."""
        return value if isinstance(value, engine.Tensor) else np.asarray(value)

    @classmethod
    def from_config(cls, config):
        if cls is Model and "input_layers" in config:
            return Functional.from_config(config)
        return super().from_config(config)

    @property
    def input(self):
        """The symbolic input: one tensor, or a list of them (the Keras idiom
        `Model(base.input, base.get_layer(name).output)` builds a feature extractor)."""
        return _one_or_list(self.inputs, self.name, "input")

    @property
    def output(self):
        return _one_or_list(self.outputs, self.name, "output")

    def to_json(self, **kwargs):
        """The architecture as Keras 3's JSON (engine.models.model_from_json reads it back)."""
        from engine.io.keras_v3 import keras_config

        return json.dumps(keras_config(self), **kwargs)

    def summary(self, line_length=None, positions=None, print_fn=None, expand_nested=False,
                show_trainable=False, layer_range=None):
        """Print the Keras table: layers, output shapes, parameter counts and totals."""
        from engine.models.summary import summary

        summary(self, line_length, positions, print_fn, expand_nested, show_trainable,
                layer_range)

    def save(self, filepath, overwrite=True, save_format=None, include_optimizer=True):
        """Save to a TF.js folder / model.json, .keras, .h5 or .engine file (engine.io)."""
        from engine.io import save_model

        if not overwrite and os.path.exists(filepath):
            raise FileExistsError(f"'{filepath}' exists and overwrite=False")
        save_model(self, filepath, save_format=save_format, include_optimizer=include_optimizer)

    def save_weights(self, filepath):
        """Weights only, as a Keras 3 .weights.h5 file."""
        from engine.io import save_weights

        save_weights(self, filepath)

    def load_weights(self, filepath):
        """Load a .weights.h5 file; every weight is checked before any changes."""
        from engine.io import load_weights

        load_weights(self, filepath)

    def get_layer(self, name=None, index=None):
        """A layer by name or by index in model.layers."""
        if index is not None:
            if not 0 <= index < len(self.layers):
                raise ValueError(f"Was asked to retrieve layer at index {index} but model only "
                                 f"has {len(self.layers)} layers.")
            return self.layers[index]
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise ValueError(f"No such layer: {name}. Existing layers are: "
                         f"{[layer.name for layer in self.layers]}.")


def _functional_arguments(args, kwargs):
    """Keras's rule for a Model subclass called as Model(inputs, outputs): two arguments, or
    inputs and outputs by name; here they must also be symbolic tensors."""
    given = (list(args) + [kwargs[k] for k in ("inputs", "outputs") if k in kwargs])[:2]
    return len(given) == 2 and all(is_symbolic(v) for v in given)


_FUNCTIONAL_SUBCLASSES = {}


def _functional_subclass(cls):
    """`cls` over a functional graph: CustomModel(inputs, outputs), Keras's pattern for a
    functional model with its own train_step. The class keeps cls's name (files name it)."""
    if cls not in _FUNCTIONAL_SUBCLASSES:
        _FUNCTIONAL_SUBCLASSES[cls] = type(cls.__name__, (cls, Functional), {
            "__module__": cls.__module__, "__qualname__": cls.__qualname__})
    return _FUNCTIONAL_SUBCLASSES[cls]


def _one_or_list(tensors, name, what):
    if not tensors:
        raise ValueError(f"Model '{name}' has no defined {what} yet: build it from an Input "
                         f"(or call it on data)")
    return tensors[0] if len(tensors) == 1 else list(tensors)


class Functional(Model):
    """A directed acyclic graph of layer calls, run in topological order."""

    def __init__(self, inputs, outputs, name=None, trainable=True):
        Layer.__init__(self, name=name or unique_name("functional"), trainable=trainable)
        Trainer.__init__(self)
        self._inputs_structure = inputs
        self._outputs_structure = outputs
        self.inputs = flatten(inputs)
        self.outputs = flatten(outputs)
        for tensor in self.inputs + self.outputs:
            if not isinstance(tensor, KerasTensor):
                raise ValueError(f"All `inputs` and `outputs` of a Model must be symbolic "
                                 f"tensors from engine.Input and layer calls; got {tensor!r}")
        self._nodes_by_depth, layers = map_graph(self.inputs, self.outputs)
        self._layers = layers
        self.input_spec = [InputSpec(shape=t.shape) for t in self.inputs]
        self.built = True
        self._build_input_shape = [t.shape for t in self.inputs]

    @property
    def input_names(self):
        return [t.history[0].name for t in self.inputs]

    @property
    def output_names(self):
        return [t.history[0].name for t in self.outputs]

    def call(self, inputs, training=False):
        given = flatten(_by_input_name(inputs, self.input_names))
        if len(given) != len(self.inputs):
            raise ValueError(f"Layer '{self.name}' expects {len(self.inputs)} input(s), but it "
                             f"received {len(given)} input tensors.")
        values = {id(symbolic): engine.convert_to_tensor(value, dtype=symbolic.dtype)
                  for symbolic, value in zip(self.inputs, given)}
        for depth in sorted(self._nodes_by_depth, reverse=True):
            for node in self._nodes_by_depth[depth]:
                if isinstance(node.layer, InputLayer):
                    continue
                arguments, args, kwargs = map_structure(
                    lambda t: values[id(t)] if isinstance(t, KerasTensor) else t,
                    (node.inputs, node.call_args, node.call_kwargs))
                results = node.layer(arguments, *args, training=training, **kwargs)
                for symbolic, value in zip(node.output_tensors, flatten(results)):
                    values[id(symbolic)] = value
        return map_structure(lambda t: values[id(t)], self._outputs_structure)

    def get_config(self):
        return functional_config(self)

    @classmethod
    def from_config(cls, config):
        return functional_from_config(cls, config)

    def compute_output_shape(self, input_shape):
        if isinstance(self._outputs_structure, KerasTensor):
            return self._outputs_structure.shape
        return [t.shape for t in self.outputs]


def _by_input_name(inputs, names):
    """Inputs given as a dict keyed by input names, in the model's input order."""
    if isinstance(inputs, dict):
        missing = [name for name in names if name not in inputs]
        if missing:
            raise ValueError(f"Missing data for input(s) {missing}; got keys {sorted(inputs)}")
        return [inputs[name] for name in names]
    return inputs


def map_graph(inputs, outputs):
    """Keras's graph walk: nodes grouped by depth (outputs at 0) and the layers, ordered by
    decreasing depth then discovery order, which fixes the order of model.weights."""
    finished, in_progress, ordered_nodes, discovery = set(), set(), [], {}
    input_ids = {id(t) for t in inputs}

    def visit(tensor):
        layer, node_index, _ = tensor.history
        node = layer._inbound_nodes[node_index]
        if id(node) in finished:
            return
        if id(node) in in_progress:
            raise ValueError(f"Tensor {tensor} from layer '{layer.name}' is part of a cycle.")
        discovery.setdefault(layer, len(discovery))
        in_progress.add(id(node))
        if id(tensor) not in input_ids:
            if isinstance(layer, InputLayer):
                raise ValueError(f"Graph disconnected: cannot find the input '{layer.name}' "
                                 f"among the model's inputs {[t.history[0].name for t in inputs]}")
            for parent in node.input_tensors:
                visit(parent)
        finished.add(id(node))
        in_progress.discard(id(node))
        ordered_nodes.append(node)

    for tensor in outputs:
        visit(tensor)
    node_depth, layer_depth = {}, {}
    for node in reversed(ordered_nodes):
        depth = max(node_depth.setdefault(id(node), 0), layer_depth.get(node.layer, 0))
        layer_depth[node.layer] = node_depth[id(node)] = depth
        for parent in node.input_tensors:
            parent_node = parent.history[0]._inbound_nodes[parent.history[1]]
            node_depth[id(parent_node)] = max(depth + 1, node_depth.get(id(parent_node), 0))
    for tensor in inputs:
        layer = tensor.history[0]
        if layer not in layer_depth:
            layer_depth[layer], discovery[layer] = 0, -1
            ordered_nodes.append(layer._inbound_nodes[0])
            node_depth[id(layer._inbound_nodes[0])] = 0
    nodes_by_depth = {}
    for node in ordered_nodes:
        nodes_by_depth.setdefault(node_depth[id(node)], []).append(node)
    layers = sorted(layer_depth, key=lambda layer: (-layer_depth[layer], discovery[layer]))
    return nodes_by_depth, layers
