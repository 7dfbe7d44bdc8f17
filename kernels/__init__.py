"""Kernels per backend: kernels/<backend>/<family>.py, registered with engine.register_kernel.

Kernel modules import without their backend's library installed, so the coverage table and the
parity test see every backend's kernels on any machine.
"""
import importlib
import pkgutil

BACKEND_PACKAGES = ("numpy", "opencl", "cupy")


def load_all():
    """Import every backend's kernel package, registering all kernels."""
    for name in BACKEND_PACKAGES:
        importlib.import_module(f"{__name__}.{name}")


def import_family_modules(package_name, package_path):
    """Import every module of a backend's kernel package (one module per op family)."""
    for module in pkgutil.iter_modules(package_path):
        importlib.import_module(f"{package_name}.{module.name}")


def coverage_table(backends=BACKEND_PACKAGES):
    """Markdown table of op x backend: which ops have a kernel where."""
    from engine.registry import list_kernels

    load_all()
    ops = list_kernels()
    have = {b: set(list_kernels(b)) for b in backends}
    lines = ["| op | " + " | ".join(backends) + " |", "|---" * (len(backends) + 1) + "|"]
    for op in ops:
        marks = " | ".join("yes" if op in have[b] else "**missing**" for b in backends)
        lines.append(f"| {op} | {marks} |")
    totals = " | ".join(f"{len(have[b])}/{len(ops)}" for b in backends)
    lines.append(f"| total | {totals} |")
    return "\n".join(lines)
