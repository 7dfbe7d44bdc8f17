"""Figure creation without pyplot (no GUI backend, no global state) and optional saving."""
import os


def new_figure(width, height):
    """A matplotlib Figure (matplotlib is imported here, only when plotting)."""
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError("engine.vis needs matplotlib: pip install 'engine[vis]'") from None
    return Figure(figsize=(width, height), layout="constrained")


def finish(figure, save_path):
    """Write the figure to save_path (format from its extension) when given; return it."""
    if save_path is not None:
        directory = os.path.dirname(os.fspath(save_path))
        if directory:
            os.makedirs(directory, exist_ok=True)
        figure.savefig(save_path, dpi=100)
    return figure
