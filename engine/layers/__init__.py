"""Keras-style layers written with engine ops, plus (de)serialization of layer configs."""
from engine.layers.activation import ELU, LeakyReLU, PReLU, ReLU, Softmax  # noqa: F401
from engine.layers.base import InputSpec, Layer, clear_session  # noqa: F401
from engine.layers.conv import (Conv1D, Conv2D, Conv2DTranspose, Cropping2D,  # noqa: F401
                                DepthwiseConv2D, SeparableConv2D, UpSampling2D, ZeroPadding2D)
from engine.layers.core import (Activation, Dense, Dropout, Embedding, Flatten,  # noqa: F401
                                Permute, Rescaling, RepeatVector, Reshape)
from engine.layers.input_layer import Input, InputLayer  # noqa: F401
from engine.layers.keras_tensor import KerasTensor  # noqa: F401
from engine.layers.merge import (Add, Average, Concatenate, Dot, Maximum,  # noqa: F401
                                 Minimum, Multiply, Subtract)
from engine.layers.noise import (GaussianDropout, GaussianNoise, SpatialDropout1D,  # noqa: F401
                                 SpatialDropout2D)
from engine.layers.normalization import (BatchNormalization, LayerNormalization,  # noqa: F401
                                         Normalization)
from engine.layers.pooling import (AveragePooling1D, AveragePooling2D,  # noqa: F401
                                   GlobalAveragePooling1D, GlobalAveragePooling2D,
                                   GlobalMaxPooling1D, GlobalMaxPooling2D, MaxPooling1D,
                                   MaxPooling2D)
from engine.layers.recurrent import GRU, LSTM, SimpleRNN  # noqa: F401

_ALIASES = {"MaxPool2D": MaxPooling2D, "AvgPool2D": AveragePooling2D,
            "GlobalAvgPool2D": GlobalAveragePooling2D, "GlobalMaxPool2D": GlobalMaxPooling2D,
            "MaxPool1D": MaxPooling1D, "AvgPool1D": AveragePooling1D,
            "GlobalAvgPool1D": GlobalAveragePooling1D, "GlobalMaxPool1D": GlobalMaxPooling1D,
            "Convolution2D": Conv2D, "Convolution1D": Conv1D}


def layer_classes():
    """Every layer class by its Keras class name (models included: they nest as layers)."""
    from engine.models import Functional, Model, Sequential

    classes = {cls.__name__: cls for cls in (
        InputLayer, Dense, Activation, Dropout, Flatten, Reshape, Permute, RepeatVector,
        Embedding, Conv1D, Conv2D, Conv2DTranspose, DepthwiseConv2D, SeparableConv2D,
        ZeroPadding2D, Cropping2D, UpSampling2D, MaxPooling2D, AveragePooling2D,
        GlobalAveragePooling2D, GlobalMaxPooling2D, MaxPooling1D, AveragePooling1D,
        GlobalAveragePooling1D, GlobalMaxPooling1D, BatchNormalization, LayerNormalization,
        Normalization, SimpleRNN, LSTM, GRU, Add, Subtract, Multiply, Average, Maximum, Minimum,
        Concatenate, Dot, ReLU, LeakyReLU, PReLU, ELU, Softmax, Rescaling, SpatialDropout1D,
        SpatialDropout2D, GaussianNoise, GaussianDropout, Sequential, Functional)}
    classes["Model"] = Model
    return {**_ALIASES, **classes}


def serialize(layer):
    """{"class_name", "config"} for a layer (Keras's serialize_keras_object, minus module)."""
    return {"class_name": type(layer).__name__, "config": layer.get_config()}


def deserialize(config):
    """A layer from {"class_name", "config"}."""
    classes = layer_classes()
    cls = classes.get(config.get("class_name"))
    if cls is None:
        raise ValueError(f"Unknown layer: '{config.get('class_name')}'. Known layers: "
                         f"{', '.join(sorted(classes))}")
    return cls.from_config(dict(config.get("config") or {}))
