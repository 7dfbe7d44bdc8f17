"""Build OpenCL programs once: an in-process dict keyed by source, a disk cache across runs.

Every launcher goes through `kernel(source, name)`. Built programs stay in `_PROGRAMS` for the
process; across processes PyOpenCL's binary cache (or the driver's own, as with PoCL) under
~/.cache/engine/opencl spares the compiler. Also here: the device arrays every launcher makes.
"""
import os
import re

import numpy as np

try:
    import pyopencl as cl
except ImportError:  # kernel modules import without pyopencl; launching needs it
    cl = None

# (queue, kernel, global_size, local_size): enqueue a kernel whose arguments are already set.
enqueue_set = cl.enqueue_nd_range_kernel if cl else None

CACHE_DIR = os.path.join(os.path.expanduser(os.environ.get("XDG_CACHE_HOME", "~/.cache")),
                         "engine", "opencl")

C_TYPES = {"float16": "half", "float32": "float", "float64": "double", "int32": "int",
           "int64": "long", "bool": "uchar"}

_PROGRAMS = {}
_KERNELS = {}
_TYPED = set()
stats = {"builds": 0}
_BACKEND = []


def backend():
    """The started opencl backend (its context, queue and memory pool)."""
    if not _BACKEND:
        from engine import runtime

        _BACKEND.append(runtime.backend("opencl"))
    return _BACKEND[0]


_BY_DTYPE = {np.dtype(name): ctype for name, ctype in C_TYPES.items()}


def c_type(dtype):
    found = _BY_DTYPE.get(dtype)
    return found if found is not None else C_TYPES[np.dtype(dtype).name]


def compute_type(dtype):
    """The C type arithmetic on `dtype` runs in: float16 computes in float."""
    ctype = c_type(dtype)
    return "float" if ctype == "half" else ctype


def scalar(dtype, value):
    """`value` as the NumPy scalar a kernel argument of `dtype` takes (float16 goes as float)."""
    return _SCALAR_TYPES[compute_type(dtype)](value)


def _pragmas(source):
    lines = []
    if re.search(r"\bdouble\b", source):
        lines.append("#pragma OPENCL EXTENSION cl_khr_fp64 : enable")
    if re.search(r"\bhalf\b", source) and "cl_khr_fp16" in backend().device.extensions:
        lines.append("#pragma OPENCL EXTENSION cl_khr_fp16 : enable")
    return "\n".join(lines) + "\n"


def kernel(source, name):
    """The kernel `name` of `source`, building (and caching) the program on first use."""
    found = _KERNELS.get((source, name))
    if found is not None:
        return found
    program = _PROGRAMS.get(source)
    if program is None:
        os.makedirs(CACHE_DIR, exist_ok=True)
        program = cl.Program(backend().context, _pragmas(source) + source).build(
            cache_dir=CACHE_DIR)
        stats["builds"] += 1
        _PROGRAMS[source] = program
    found = _KERNELS[(source, name)] = getattr(program, name)
    return found


def read_source(filename):
    """A .cl file that sits beside this module."""
    with open(os.path.join(os.path.dirname(__file__), filename), encoding="utf-8") as handle:
        return handle.read()


def empty(shape, dtype):
    return backend().empty(shape, dtype)


def launch(kernel_object, global_size, local_size, *args):
    """Enqueue on the backend's queue; sizes are tuples (local_size may be None).

    Scalar arguments are NumPy scalars; their types are declared to PyOpenCL on the first
    launch, which makes every later launch several times cheaper.
    """
    if 0 in global_size:
        return
    if kernel_object not in _TYPED:
        kernel_object.set_scalar_arg_dtypes(
            [arg.dtype if isinstance(arg, np.generic) else None for arg in args])
        _TYPED.add(kernel_object)
    enqueue(kernel_object, global_size, local_size, args)


def enqueue(kernel_object, global_size, local_size, args):
    """Set the arguments, then enqueue. Kernel.__call__ does the same through a generated
    Python function called back from C; calling both steps directly is about 0.6 us cheaper."""
    kernel_object.set_args(*args)
    enqueue_set(backend().queue, kernel_object, global_size, local_size)


def index_type(*sizes):
    """The C integer type that can index every extent given."""
    return "int" if max(sizes, default=0) < 2 ** 31 - 1 else "long"


NUMPY_TYPES = {c: n if n != "bool" else "uint8" for n, c in C_TYPES.items()}
_SCALAR_TYPES = {c: np.dtype(n).type for c, n in NUMPY_TYPES.items()}
