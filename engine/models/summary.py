"""model.summary(): the Keras table of layers, output shapes and parameter counts."""
from engine.layers.input_layer import InputLayer


def summary(model, line_length=None, positions=None, print_fn=None):
    """Print (through `print_fn`, default print) one row per layer and the parameter totals."""
    print_fn = print_fn or print
    functional = hasattr(model, "_nodes_by_depth")
    headers = ["Layer (type)", "Output Shape", "Param #"] + (["Connected to"] if functional
                                                             else [])
    line_length = line_length or (98 if functional else 65)
    positions = positions or ([0.3, 0.6, 0.7, 1.0] if functional else [0.45, 0.85, 1.0])
    if positions[-1] <= 1:
        positions = [int(line_length * p) for p in positions]
    rows = _rows(model, functional)

    print_fn(f'Model: "{model.name}"')
    print_fn("_" * line_length)
    print_fn(_format_row(headers, positions))
    print_fn("=" * line_length)
    for index, row in enumerate(rows):
        for line in row:
            print_fn(_format_row(line, positions))
        print_fn(("=" if index == len(rows) - 1 else "_") * line_length)
    trainable = model.trainable_weights
    non_trainable = model.non_trainable_weights
    counts = [sum(w.size for w in group) for group in (model.weights, trainable, non_trainable)]
    sizes = [sum(w.nbytes for w in group) for group in (model.weights, trainable, non_trainable)]
    for label, count, size in zip(("Total", "Trainable", "Non-trainable"), counts, sizes):
        print_fn(f"{label} params: {count:,} ({readable_memory_size(size)})")
    print_fn("_" * line_length)


def _rows(model, functional):
    """Each layer's lines: [name (type), output shape, params, (connected to)]."""
    if not functional:
        # (a subclassed model's layers have no static output shapes: "?", as in Keras)
        shapes = getattr(model, "layer_output_shapes", None) or [None] * len(model.layers)
        return [[[f"{layer.name} ({type(layer).__name__})", _shape_text(shape),
                  _params_text(layer)]] for layer, shape in zip(model.layers, shapes)]
    rows = []
    for layer in model.layers:
        nodes = [node for depth in model._nodes_by_depth.values() for node in depth
                 if node.layer is layer]
        shape = [t.shape for t in nodes[0].output_tensors] if nodes else None
        shape = shape[0] if shape and len(shape) == 1 else shape
        inbound = [] if isinstance(layer, InputLayer) else [
            f"{t.history[0].name}[{t.history[1]}][{t.history[2]}]"
            for node in nodes for t in node.input_tensors]
        first = [f"{layer.name} ({type(layer).__name__})", _shape_text(shape),
                 _params_text(layer), inbound[0] if inbound else ""]
        rows.append([first] + [["", "", "", name] for name in inbound[1:]])
    return rows


def _shape_text(shape):
    if shape is None:
        return "?"
    return str(shape) if isinstance(shape, tuple) else "[" + ", ".join(map(str, shape)) + "]"


def _params_text(layer):
    return str(layer.count_params()) if layer.built else "0 (unbuilt)"


def _format_row(fields, positions):
    line = ""
    for field, end in zip(fields, positions):
        if line:
            line = line[:-1] + " "
        line = (line + str(field))[:end]
        line += " " * (end - len(line))
    return line.rstrip()


def readable_memory_size(num_bytes):
    """Bytes in B, KB, MB... with two decimals (Keras's format)."""
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if num_bytes < 1024 or unit == "TB":
            return f"{num_bytes:.2f} {unit}"
        num_bytes /= 1024
