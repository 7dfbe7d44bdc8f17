"""Packaging: one import package, `engine`; backends/ and kernels/ install inside it."""
from setuptools import find_packages, setup

_SUBPACKAGES = {"engine.backends": "backends", "engine.kernels": "kernels"}


def _packages():
    packages = find_packages(include=["engine", "engine.*"])
    for name, folder in _SUBPACKAGES.items():
        packages.append(name)
        packages += [f"{name}.{sub}" for sub in find_packages(where=folder)]
    return packages


_CPU_EXTRAS = {
    "opencl": ["pyopencl[pocl]>=2024.1"],
    "io": ["h5py>=3.8"],
    "vis": ["matplotlib>=3.7"],
    "examples": ["scikit-learn>=1.3", "tqdm>=4"],
    "tensorboard": ["tensorboardX>=2.6"],
}

setup(
    name="engine",
    version="0.1.0",
    description="A tensor engine with NumPy, CuPy and OpenCL backends and a Keras-style model "
                "layer",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    packages=_packages(),
    package_dir={"engine": "engine", **_SUBPACKAGES},
    package_data={"engine.kernels.opencl": ["*.cl"], "engine.kernels.cuda": ["*.cu"]},
    install_requires=["numpy>=1.24"],
    extras_require={
        **_CPU_EXTRAS,
        "cuda12": ["cupy-cuda12x>=13"],
        "cuda13": ["cupy-cuda13x>=14"],
        "dev": ["pytest>=7", "pytest-benchmark>=4", "hypothesis>=6", "tqdm>=4"]
               + [req for reqs in _CPU_EXTRAS.values() for req in reqs],
    },
)
