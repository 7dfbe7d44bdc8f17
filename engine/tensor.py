"""Tensor: a backend's native array plus the backend it lives on, and Python operators."""
import numpy as np

from engine.tracing import RECORDING as _RECORDING

_DTYPE_NAMES = {}  # native dtype -> its name, filled on first use


class Tensor:
    """An immutable n-dimensional array stored on one backend.

    `native` is the backend's own array (numpy.ndarray, cupy.ndarray, pyopencl Array).
    Data crosses to the host only when asked: `.numpy()`, `.item()`, `repr`.
    """

    # _keras_mask: the boolean mask a masking layer attached (Keras's attribute), unset if none
    __slots__ = ("native", "_backend", "_keras_mask")
    __array_priority__ = 100  # numpy_array + tensor calls Tensor.__radd__
    trainable = False  # only a Variable can be (its slot overrides this)

    # No __init__: `Tensor()` with none runs in C (40 ns; a Python __init__ costs 110 ns per
    # kernel result). Tensors are made by `wrap`, or inline by dispatch.

    @property
    def shape(self):
        return tuple(self.native.shape)

    @property
    def dtype(self):
        native_dtype = self.native.dtype
        name = _DTYPE_NAMES.get(native_dtype)
        if name is None:  # NumPy computes dtype.name in Python (~1.5 us): look it up once
            name = _DTYPE_NAMES[native_dtype] = native_dtype.name
        return name

    @property
    def ndim(self):
        return len(self.native.shape)

    @property
    def size(self):
        size = 1
        for dim in self.native.shape:
            size *= dim
        return size

    @property
    def nbytes(self):
        return self.size * self.native.dtype.itemsize

    @property
    def backend(self):
        """Name of the backend this tensor lives on."""
        return self._backend.name

    def numpy(self):
        """A NumPy copy of the data (a device-to-host transfer on GPU backends)."""
        if _RECORDING:
            _RECORDING[0].host_read(self)
        return self._backend.to_host(self.native)

    def __array__(self, dtype=None, copy=None):
        array = self.numpy()
        return array if dtype is None else array.astype(dtype, copy=False)

    def item(self):
        if self.size != 1:
            raise ValueError(f"item() needs a tensor of one element, got shape {self.shape}")
        return self.numpy().reshape(()).item()

    def tolist(self):
        return self.numpy().tolist()

    def to(self, backend_name):
        """A copy of this tensor on another backend (through the host)."""
        from engine import runtime

        target = runtime.backend(backend_name)
        if target is self._backend:
            return self
        return wrap(target.from_host(self.numpy()), target)

    def __dlpack__(self, **kwargs):
        return self._backend.to_dlpack(self.native, **kwargs)

    def __dlpack_device__(self):
        return self.native.__dlpack_device__()

    def __repr__(self):
        body = np.array2string(self.numpy(), separator=", ", prefix="       ")
        return f"Tensor({body}, shape={self.shape}, dtype={self.dtype}, backend={self.backend})"

    def __len__(self):
        if not self.native.shape:
            raise TypeError("len() of a 0-d tensor")
        return self.native.shape[0]

    def __iter__(self):
        for index in range(len(self)):
            yield self[index]

    def __bool__(self):
        return bool(self.item())

    def __float__(self):
        return float(self.item())

    def __int__(self):
        return int(self.item())

    def __index__(self):
        if self.dtype not in ("int32", "int64"):
            raise TypeError(f"only integer tensors can be used as an index, got {self.dtype}")
        return int(self.item())

    __hash__ = object.__hash__

    # Python operators, all through the public ops so the tape sees them.
    def __add__(self, other):
        return _ops.add(self, other)

    def __radd__(self, other):
        return _ops.add(other, self)

    def __sub__(self, other):
        return _ops.sub(self, other)

    def __rsub__(self, other):
        return _ops.sub(other, self)

    def __mul__(self, other):
        return _ops.mul(self, other)

    def __rmul__(self, other):
        return _ops.mul(other, self)

    def __truediv__(self, other):
        return _ops.div(self, other)

    def __rtruediv__(self, other):
        return _ops.div(other, self)

    def __floordiv__(self, other):
        return _ops.floor_div(self, other)

    def __rfloordiv__(self, other):
        return _ops.floor_div(other, self)

    def __mod__(self, other):
        return _ops.mod(self, other)

    def __rmod__(self, other):
        return _ops.mod(other, self)

    def __pow__(self, other):
        return _ops.pow(self, other)

    def __rpow__(self, other):
        return _ops.pow(other, self)

    def __matmul__(self, other):
        return _ops.matmul(self, other)

    def __rmatmul__(self, other):
        return _ops.matmul(other, self)

    def __neg__(self):
        return _ops.neg(self)

    def __pos__(self):
        return self

    def __abs__(self):
        return _ops.abs(self)

    def __invert__(self):
        return _ops.logical_not(self)

    def __and__(self, other):
        return _ops.logical_and(self, other)

    def __or__(self, other):
        return _ops.logical_or(self, other)

    def __eq__(self, other):
        return _ops.equal(self, other)

    def __ne__(self, other):
        return _ops.not_equal(self, other)

    def __lt__(self, other):
        return _ops.less(self, other)

    def __le__(self, other):
        return _ops.less_equal(self, other)

    def __gt__(self, other):
        return _ops.greater(self, other)

    def __ge__(self, other):
        return _ops.greater_equal(self, other)

    def __getitem__(self, key):
        return _ops.getitem(self, key)

    # Method forms of common ops, as in TF.js and PyTorch.
    def reshape(self, *shape):
        return _ops.reshape(self, shape[0] if len(shape) == 1 else shape)

    def transpose(self, perm=None):
        return _ops.transpose(self, perm)

    @property
    def T(self):
        return _ops.transpose(self)

    def astype(self, dtype):
        return _ops.cast(self, dtype)

    def sum(self, axis=None, keepdims=False):
        return _ops.sum(self, axis, keepdims)

    def mean(self, axis=None, keepdims=False):
        return _ops.mean(self, axis, keepdims)

    def max(self, axis=None, keepdims=False):
        return _ops.max(self, axis, keepdims)

    def min(self, axis=None, keepdims=False):
        return _ops.min(self, axis, keepdims)


def wrap(native, backend):
    """The Tensor holding `native`, an array of `backend`."""
    tensor = Tensor()
    tensor.native = native
    tensor._backend = backend
    return tensor


class Variable(Tensor):
    """Trainable state: a tensor whose value can be replaced in place with `assign`."""

    # constraint: a projection the optimizer applies after each update (None: none)
    __slots__ = ("name", "trainable", "_host_item", "constraint")

    def __init__(self, initial_value, trainable=True, name=None, dtype=None, constraint=None):
        if _RECORDING:
            _RECORDING[0].variable_created()
        value = _ops.convert_to_tensor(initial_value, dtype=dtype)
        self.native = value.native
        self._backend = value._backend
        self.trainable = trainable
        self.constraint = constraint
        self.name = name or "Variable"
        self._host_item = (None, None)  # (the native array read, its value)

    def item(self):
        """The value as a Python scalar, read from the device only when an assign has replaced
        it since the last read (natives are never written in place): an optimizer's step
        counter and learning rate cost no device sync per step."""
        if _RECORDING:
            _RECORDING[0].host_read(self)
        native, value = self._host_item
        if native is not self.native:
            value = super().item()
            self._host_item = (self.native, value)
        return value

    def assign(self, value):
        """Replace the value; shape and dtype must stay the same."""
        value = _ops.convert_to_tensor(value, dtype=self.dtype, like=self)
        if value.shape != self.shape or value.dtype != self.dtype:
            raise ValueError(
                f"Error in assign to Variable '{self.name}': got shape {value.shape} "
                f"dtype {value.dtype}, expected shape {self.shape} dtype {self.dtype}")
        if value._backend is not self._backend:
            raise ValueError(f"Error in assign to Variable '{self.name}': value is on backend "
                             f"'{value.backend}', the variable on '{self.backend}'")
        if _RECORDING:
            _RECORDING[0].assigned(self, value)
        self.native = value.native
        return self

    def assign_add(self, delta):
        """Add `delta`; a counter's known host value follows a Python int delta, so a step
        counter never reads the device back (a sync per step on a GPU)."""
        read_native, known = self._host_item
        counting = read_native is self.native and type(delta) is int and self.dtype in (
            "int32", "int64")
        self.assign(_ops.add(self, delta))
        if counting:
            self._host_item = (self.native, known + delta)
        return self

    def assign_sub(self, delta):
        return self.assign(_ops.sub(self, delta))

    def value(self):
        """A plain tensor holding the current value."""
        return wrap(self.native, self._backend)

    def __repr__(self):
        return f"<Variable '{self.name}' shape={self.shape} dtype={self.dtype} backend={self.backend}>"


from engine import ops as _ops  # noqa: E402  (ops import Tensor; bound after the class exists)
