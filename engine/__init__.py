"""engine: a tensor engine with swappable compute backends and a Keras-style model layer."""
from engine import openblas_spin  # noqa: F401  (first: it must run before NumPy loads)
from engine import dtypes
from engine.autodiff import GradientTape, grad, value_and_grad
from engine.dtypes import bool_, float16, float32, float64, int32, int64
from engine.memory import memory
from engine.ops import *  # noqa: F401,F403
from engine.ops import random  # noqa: F401  (engine.random.set_seed, as tf.random)
from engine.registry import (list_gradients, list_kernels, register_gradient,  # noqa: F401
                             register_kernel)
from engine.runtime import (BackendUnavailable, get_backend, list_backends,  # noqa: F401
                            set_backend)
from engine.tensor import Tensor, Variable
from engine import callbacks, data, losses, metrics, optimizers, utils, vis  # noqa: E402,F401
from engine import (activations, constraints, initializers, layers, models,  # noqa: E402,F401
                    regularizers)
from engine.layers import Input  # noqa: E402,F401
from engine.models import Model, Sequential  # noqa: E402,F401

__version__ = "0.1.0"
