"""engine.memory(): live tensors and bytes per backend, allocator pools, host transfers."""
import gc

from engine import runtime
from engine.tensor import Tensor


def memory():
    """Like tf.memory(): per started backend, live tensors and bytes plus transfer counts.

    Live tensors are counted by walking the garbage collector's objects, so tracking costs
    nothing on the dispatch path; call it for diagnostics, not in a hot loop.
    """
    report = {}
    for backend in runtime.started_backends():
        report[backend.name] = {"num_tensors": 0, "num_bytes": 0, **backend.memory_info(),
                                "transfers": dict(backend.transfers)}
    seen = set()
    for obj in gc.get_objects():
        # type() rather than isinstance(): proxies (torch modules) warn when asked __class__
        if issubclass(type(obj), Tensor) and obj._backend.name in report:
            entry = report[obj._backend.name]
            entry["num_tensors"] += 1
            buffer_id = id(obj.native)
            if buffer_id not in seen:  # tensors sharing one buffer count its bytes once
                seen.add(buffer_id)
                entry["num_bytes"] += obj.nbytes
    return report
