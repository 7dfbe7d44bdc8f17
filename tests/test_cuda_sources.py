"""The CUDA C of the cupy backend compiles, checked with `nvcc --ptx` on machines without a GPU.

Covers every kernels/cuda/*.cu (each explicit instantiation must reach the PTX, as the loader
asks NVRTC for exactly those) and every fused ElementwiseKernel snippet of kernels/cupy, wrapped
in a __global__ function the way CuPy wraps it, for float and double.
"""
import os
import pathlib
import re
import shutil
import subprocess

import pytest

import engine.kernels.cupy  # noqa: F401  (declares every fused snippet)
from engine.kernels import cuda
from engine.kernels.cupy.elementwise import FUSED_SPECS

CUDA_FOLDER = pathlib.Path(cuda.__file__).parent
NVCC = shutil.which("nvcc") or next(
    (str(p) for p in (pathlib.Path(os.environ.get("CUDA_HOME", "/usr/local/cuda")) / "bin/nvcc",
                      pathlib.Path("/usr/local/bin/nvcc")) if p.exists()), None)
pytestmark = pytest.mark.skipif(NVCC is None, reason="nvcc not found (CUDA toolkit not installed)")

# CuPy's scalar type names in ElementwiseKernel parameter lists, as C types.
_C_TYPES = {"T": "T", "I": "I", "float64": "double", "float32": "float", "uint32": "unsigned int",
            "int32": "int", "int64": "long long", "bool": "bool"}


def compile_ptx(source, tmp_path, name):
    path = tmp_path / f"{name}.cu"
    path.write_text(source)
    result = subprocess.run([NVCC, "--ptx", "-std=c++17", "-o", str(tmp_path / f"{name}.ptx"),
                             str(path)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"nvcc failed on {name}:\n{result.stderr}"
    return (tmp_path / f"{name}.ptx").read_text()


@pytest.mark.parametrize("path", sorted(CUDA_FOLDER.glob("*.cu")), ids=lambda p: p.name)
def test_cuda_source_compiles_every_instantiation(path, tmp_path):
    text = path.read_text()
    names = cuda.instantiations(text)
    assert names, f"{path.name} instantiates no kernel, so the loader would find none"
    ptx = compile_ptx(text, tmp_path, path.stem)
    entries = re.findall(r"\.entry\s+(\w+)", ptx)
    assert len(entries) == len(names), f"PTX entries {entries} != instantiations {names}"
    for name in names:
        kernel = name.split("<")[0]
        assert any(kernel in entry for entry in entries), f"{name} missing from the PTX"


def _parameter(declaration):
    ctype, name = declaration.split()
    return f"{_C_TYPES[ctype]} {name}"


def _wrapped(name, spec, ctype):
    """One snippet as CuPy compiles it: inputs by value, each output a reference, index i."""
    params = ", ".join(_parameter(p.strip()) for p in spec.params.split(","))
    outputs = [p.split() for p in spec.output.split(",")]
    pointers = "".join(f", {_C_TYPES[out_type]}* out_{out_name}" for out_type, out_name in outputs)
    references = "".join(f"  {_C_TYPES[out_type]}& {out_name} = out_{out_name}[i];\n"
                         for out_type, out_name in outputs)
    return (f"namespace check_{name}_{ctype} {{\ntypedef {ctype} T;\ntypedef int I;\n"
            f"__global__ void run({params}{pointers}) {{\n"
            f"  ptrdiff_t i = blockIdx.x * blockDim.x + threadIdx.x;\n"
            f"{references}  {spec.operation};\n}}\n}}\n")


def test_fused_snippets_compile(tmp_path):
    preambles = dict.fromkeys(spec.preamble for spec in FUSED_SPECS.values())
    bodies = [_wrapped(name, spec, ctype) for name, spec in FUSED_SPECS.items()
              for ctype in ("float", "double")]
    ptx = compile_ptx("\n".join(preambles) + "\n" + "\n".join(bodies), tmp_path, "fused")
    assert len(re.findall(r"\.entry\s+", ptx)) == len(bodies)
