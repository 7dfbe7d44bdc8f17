"""Implementations a workload runs on: the engine on one backend, and installed peers.

Each implementation has a `family` (which setup of a workload it uses), turns host NumPy arrays
into its own arrays, and can wait for its queued device work. A peer that cannot start raises
NotAvailable with the reason; the report lists it instead of failing the run.
"""
import contextlib
import os
import tempfile

import numpy as np


class NotAvailable(Exception):
    """A workload cannot run on an implementation here; the message says why."""


# Where each engine backend computes, to pick the peers worth comparing against.
ENGINE_DEVICE_CLASS = {"numpy": "cpu", "opencl": "opencl", "cupy": "cuda"}


class Implementation:
    name = None
    family = None
    device_class = "cpu"
    is_engine = False

    def array(self, host):
        """This implementation's copy of a host float32/int32 array."""
        raise NotImplementedError

    def synchronize(self):
        """Wait for queued device work, so a timer stopped after it measures the work."""

    def activate(self):
        """Make this implementation the one that new arrays go to, before setting up a workload."""

    def describe(self):
        return self.name

    def runs_on_host_cpu(self):
        """Whether the host CPU's ceilings (BLAS peak, copy bandwidth) bound this one."""
        return self.device_class == "cpu"


class EngineBackend(Implementation):
    """The engine with new tensors on backend `backend_name`."""

    family = "engine"
    is_engine = True

    def __init__(self, backend_name):
        import engine
        from engine import runtime

        try:
            self.backend = runtime.backend(backend_name)
        except engine.BackendUnavailable as error:
            raise NotAvailable(str(error)) from error
        self.engine = engine
        self.backend_name = self.backend.name
        self.name = f"engine:{self.backend_name}"
        self.device_class = ENGINE_DEVICE_CLASS.get(self.backend_name, self.backend_name)

    def array(self, host):
        return self.engine.tensor(host, backend=self.backend_name)

    def synchronize(self):
        self.backend.synchronize()

    def activate(self):
        """New tensors (model weights, optimizer slots) go to this backend, as with
        ENGINE_BACKEND set: a workload runs wholly on the backend it measures."""
        self.engine.set_backend(self.backend_name)

    def describe(self):
        return self.backend.describe()

    def runs_on_host_cpu(self):
        return self.device_class == "cpu" or "cpu" in self.describe().lower()


class ArrayModule(Implementation):
    """Raw NumPy (the CPU floor) or raw CuPy: the same array code on another module."""

    family = "xp"

    def __init__(self, name):
        self.name = name
        if name == "numpy":
            self.xp = np
            return
        try:
            import cupy
        except ImportError as error:
            raise NotAvailable(f"cupy not installed ({error})") from error
        try:
            cupy.cuda.runtime.getDeviceCount()
        except Exception as error:  # CUDA driver errors have several types
            raise NotAvailable(f"no CUDA device ({error})") from error
        self.xp = cupy
        self.device_class = "cuda"

    def array(self, host):
        return self.xp.asarray(host)

    def synchronize(self):
        if self.xp is not np:
            self.xp.cuda.get_current_stream().synchronize()

    def describe(self):
        if self.xp is np:
            return f"NumPy {np.__version__}"
        props = self.xp.cuda.runtime.getDeviceProperties(self.xp.cuda.Device().id)
        return f"CuPy {self.xp.__version__} on {props['name'].decode()}"


class Torch(Implementation):
    """PyTorch eager on the CPU or on CUDA."""

    family = "torch"

    def __init__(self, device):
        try:
            import torch
        except ImportError as error:
            raise NotAvailable(f"torch not installed ({error})") from error
        if device == "cuda" and not torch.cuda.is_available():
            raise NotAvailable("torch has no CUDA device here")
        self.torch = torch
        self.device = device
        self.name = f"torch-{device}"
        self.device_class = device

    def array(self, host):
        return self.torch.from_numpy(np.ascontiguousarray(host)).to(self.device)

    def synchronize(self):
        if self.device == "cuda":
            self.torch.cuda.synchronize()

    def describe(self):
        threads = f", {self.torch.get_num_threads()} threads" if self.device == "cpu" else ""
        return f"torch {self.torch.__version__} ({self.device}{threads})"


class KerasJax(Implementation):
    """Keras 3 on JAX (KERAS_BACKEND=jax), on JAX's CPU device.

    KERAS_BACKEND and JAX_PLATFORMS are set only while keras is first imported, then restored,
    so other code in the process sees the environment it started with. Keras already imported
    with another backend, or JAX already started on another device, makes the peer unavailable.
    """

    family = "keras"
    name = "keras-jax"

    def __init__(self):
        try:
            with _environment(KERAS_BACKEND="jax", JAX_PLATFORMS="cpu"):
                import jax
                import keras
        except ImportError as error:
            raise NotAvailable(f"keras or jax not installed ({error})") from error
        if keras.backend.backend() != "jax":
            raise NotAvailable(f"keras was already imported with the {keras.backend.backend()} "
                               "backend (it reads KERAS_BACKEND once, at its first import)")
        if jax.default_backend() != "cpu":
            raise NotAvailable(f"JAX was started on {jax.default_backend()}, not the CPU")
        self.keras = keras
        self.jax = jax

    def array(self, host):
        return self.jax.device_put(np.ascontiguousarray(host))

    def synchronize(self):
        """Nothing queued: train_on_batch returns its loss as a Python float, so it waits."""

    def describe(self):
        # XLA's CPU client sizes its intra-op (Eigen) pool to the cores this process may run on
        # (its 'tf_XLAEigen' threads); torch-cpu's describe() gives torch's own thread count.
        threads = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") \
            else os.cpu_count()
        return (f"keras {self.keras.__version__} on jax {self.jax.__version__} "
                f"(cpu, XLA intra-op pool of {threads} threads)")


@contextlib.contextmanager
def _environment(**values):
    """Environment variables set inside the with-block and restored after it."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _opencl_queue():
    """One PyOpenCL context and queue for the OpenCL peers (PYOPENCL_CTX picks the device)."""
    try:
        import pyopencl as cl
    except ImportError as error:
        raise NotAvailable(f"pyopencl not installed ({error})") from error
    if not hasattr(_opencl_queue, "queue"):
        try:
            context = cl.create_some_context(interactive=False)
        except cl.Error as error:
            raise NotAvailable(f"no OpenCL device ({error})") from error
        _opencl_queue.queue = cl.CommandQueue(context)
    return _opencl_queue.queue


class RawOpenCL(Implementation):
    """Hand-written PyOpenCL kernels: the floor of launch cost and a fused elementwise kernel."""

    family = "pyopencl"
    device_class = "opencl"
    name = "pyopencl"

    def __init__(self):
        import pyopencl.array

        self.queue = _opencl_queue()
        self.cl_array = pyopencl.array

    def array(self, host):
        return self.cl_array.to_device(self.queue, np.ascontiguousarray(host))

    def synchronize(self):
        self.queue.finish()

    def describe(self):
        import pyopencl

        device = self.queue.device
        return f"pyopencl {pyopencl.VERSION_TEXT} on {device.platform.name}: {device.name}"

    def runs_on_host_cpu(self):
        import pyopencl

        return bool(self.queue.device.type & pyopencl.device_type.CPU)


class CLBlast(RawOpenCL):
    """CLBlast's tuned OpenCL GEMM through pyclblast, on the same queue as RawOpenCL."""

    family = "clblast"
    name = "clblast"

    def __init__(self):
        super().__init__()
        try:
            import pyclblast
        except ImportError as error:
            raise NotAvailable(f"pyclblast not installed ({error})") from error
        self.pyclblast = pyclblast

    def describe(self):
        from importlib.metadata import version

        return f"pyclblast {version('pyclblast')}; " + super().describe()


class Tinygrad(Implementation):
    """tinygrad eager on its OpenCL device (DEV=CL) or the device its DEV names."""

    family = "tinygrad"
    name = "tinygrad"
    device_class = "opencl"

    def __init__(self):
        try:
            import tinygrad
        except ImportError as error:
            raise NotAvailable(f"tinygrad not installed ({error})") from error
        self.tinygrad = tinygrad
        self.device = os.environ.get("DEV", "CL")
        if self.device == "CL":
            _point_icd_loader_at_pyopencl_pocl()
        try:
            tinygrad.Tensor([1.0, 2.0], device=self.device).realize()
        except Exception as error:  # tinygrad raises many kinds when a device cannot open
            raise NotAvailable(f"tinygrad device {self.device} cannot start "
                               f"({type(error).__name__}: {error})") from error

    def array(self, host):
        return self.tinygrad.Tensor(np.ascontiguousarray(host), device=self.device).realize()

    def synchronize(self):
        self.tinygrad.Device[self.device].synchronize()

    def describe(self):
        from importlib.metadata import version

        return f"tinygrad {version('tinygrad')} on {self.device}"


def _point_icd_loader_at_pyopencl_pocl():
    """Let the system's OpenCL loader (which tinygrad opens) find the PoCL that pyopencl's
    wheel bundles, when no OpenCL driver is installed system-wide and OCL_ICD_VENDORS is unset.
    The bundled .icd names its library relatively, so an .icd with the full path is written."""
    vendors = "/etc/OpenCL/vendors"
    if os.environ.get("OCL_ICD_VENDORS") or (os.path.isdir(vendors) and os.listdir(vendors)):
        return
    try:
        import pyopencl
    except ImportError:
        return
    libs = os.path.join(os.path.dirname(pyopencl.__file__), ".libs")
    bundled = [name for name in os.listdir(libs) if name.startswith("libpocl")] \
        if os.path.isdir(libs) else []
    if bundled:
        icd = os.path.join(tempfile.mkdtemp(prefix="benchmarks-icd-"), "pocl.icd")
        with open(icd, "w", encoding="utf-8") as out:
            out.write(os.path.join(libs, bundled[0]) + "\n")
        os.environ["OCL_ICD_VENDORS"] = icd


# Each peer: the engine device class it is compared with, and how to start it.
PEERS = {
    "numpy": ("cpu", lambda: ArrayModule("numpy")),
    "torch-cpu": ("cpu", lambda: Torch("cpu")),
    "keras-jax": ("cpu", KerasJax),
    "pyopencl": ("opencl", RawOpenCL),
    "clblast": ("opencl", CLBlast),
    "tinygrad": ("opencl", Tinygrad),
    "cupy": ("cuda", lambda: ArrayModule("cupy")),
    "torch-cuda": ("cuda", lambda: Torch("cuda")),
}


def engine_backends(requested=None):
    """EngineBackend for each requested backend (every registered one when None), and the
    reasons of those that cannot start: ([EngineBackend], {name: reason})."""
    import engine

    names = requested or [row["name"] for row in engine.list_backends()]
    started, missing = [], {}
    for name in names:
        try:
            started.append(EngineBackend(name))
        except NotAvailable as error:
            missing[name] = str(error)
    return started, missing


def start_peers(device_classes, requested=None):
    """The peers for these device classes (raw NumPy always, as the CPU floor), or exactly
    `requested`: ([Implementation], {name: reason})."""
    if requested is None:
        requested = [name for name, (device_class, _) in PEERS.items()
                     if name == "numpy" or device_class in device_classes]
    started, missing = [], {}
    for name in requested:
        if name not in PEERS:
            raise ValueError(f"Unknown peer '{name}'. Known peers: {', '.join(PEERS)}")
        try:
            started.append(PEERS[name][1]())
        except NotAvailable as error:
            missing[name] = str(error)
    return started, missing
