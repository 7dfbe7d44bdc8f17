"""model.summary(): the Keras table of layers, output shapes and parameter counts."""
from engine.layers.input_layer import InputLayer


def summary(model, line_length=None, positions=None, print_fn=None, expand_nested=False,
            show_trainable=False, layer_range=None):
    """Print (through `print_fn`, default print) one row per layer and the parameter totals.
    As Keras's: `expand_nested` adds a nested model's layers under it (indented),
    `show_trainable` a Trainable column, `layer_range` ([first, last] layer names) keeps the
    rows from the first through the last."""
    print_fn = print_fn or print
    functional = hasattr(model, "_nodes_by_depth")
    headers = ["Layer (type)", "Output Shape", "Param #"] + (["Connected to"] if functional
                                                             else [])
    line_length = line_length or (98 if functional else 65)
    positions = positions or ([0.3, 0.6, 0.7, 1.0] if functional else [0.45, 0.85, 1.0])
    if positions[-1] <= 1:
        positions = [int(line_length * p) for p in positions]
    rows = _rows(model, functional, expand_nested)
    if layer_range is not None:
        rows = _in_range(rows, layer_range)
    if show_trainable:
        headers, line_length = headers + ["Trainable"], line_length + 11
        positions = list(positions) + [line_length]
        rows = [(layer, [lines[0] + ["Y" if layer.trainable else "N"]]
                 + [line + [""] for line in lines[1:]]) for layer, lines in rows]

    print_fn(f'Model: "{model.name}"')
    print_fn("_" * line_length)
    print_fn(_format_row(headers, positions))
    print_fn("=" * line_length)
    for index, (_, lines) in enumerate(rows):
        for line in lines:
            print_fn(_format_row(line, positions))
        print_fn(("=" if index == len(rows) - 1 else "_") * line_length)
    trainable = model.trainable_weights
    non_trainable = model.non_trainable_weights
    counts = [sum(w.size for w in group) for group in (model.weights, trainable, non_trainable)]
    sizes = [sum(w.nbytes for w in group) for group in (model.weights, trainable, non_trainable)]
    for label, count, size in zip(("Total", "Trainable", "Non-trainable"), counts, sizes):
        print_fn(f"{label} params: {count:,} ({readable_memory_size(size)})")
    print_fn("_" * line_length)


def _in_range(rows, layer_range):
    """The rows from layer layer_range[0] through layer_range[1] (names)."""
    names = [layer.name for layer, _ in rows]
    first, last = layer_range
    for name in (first, last):
        if name not in names:
            raise ValueError(f"summary(layer_range={list(layer_range)}): no layer named "
                             f"'{name}' (layers: {names})")
    return rows[names.index(first):names.index(last) + 1]


def _rows(model, functional, expand_nested=False, indent=""):
    """[(layer, its lines: [name (type), output shape, params, (connected to)])], a nested
    model's own layers after it when `expand_nested`."""
    if not functional:
        # (a subclassed model's layers have no static output shapes: "?", as in Keras)
        shapes = getattr(model, "layer_output_shapes", None) or [None] * len(model.layers)
        rows = [(layer, [[f"{indent}{layer.name} ({type(layer).__name__})",
                          _shape_text(shape), _params_text(layer)]])
                for layer, shape in zip(model.layers, shapes)]
    else:
        rows = []
        for layer in model.layers:
            nodes = [node for depth in model._nodes_by_depth.values() for node in depth
                     if node.layer is layer]
            shape = [t.shape for t in nodes[0].output_tensors] if nodes else None
            shape = shape[0] if shape and len(shape) == 1 else shape
            inbound = [] if isinstance(layer, InputLayer) else [
                f"{t.history[0].name}[{t.history[1]}][{t.history[2]}]"
                for node in nodes for t in node.input_tensors]
            first = [f"{indent}{layer.name} ({type(layer).__name__})", _shape_text(shape),
                     _params_text(layer), inbound[0] if inbound else ""]
            rows.append((layer, [first] + [["", "", "", name] for name in inbound[1:]]))
    if not expand_nested:
        return rows
    expanded = []
    for layer, lines in rows:
        expanded.append((layer, lines))
        if hasattr(layer, "layers") and hasattr(layer, "compile"):  # a nested model
            width = len(lines[0])
            expanded += [(inner, [line[:width] + [""] * (width - len(line)) for line in
                                  inner_lines])
                         for inner, inner_lines in _rows(
                             layer, hasattr(layer, "_nodes_by_depth"), True, indent + "  ")]
    return expanded


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
