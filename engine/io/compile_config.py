"""A compiled model's optimizer and loss as Keras's compile_config, and compiling from it."""
import engine


def compile_config(model, loss_objects=False):
    """Keras 3's compile_config of a compiled model (None if it is not compiled). With
    `loss_objects`, a loss named by a string is written as its Loss class (Keras 3.15 cannot
    read "mse" back from a legacy .h5 training_config)."""
    if not getattr(model, "compiled", False) or model.optimizer is None:
        return None
    return {"optimizer": engine.optimizers.serialize(model.optimizer),
            "loss": _serialize_loss(model.loss, loss_objects), "loss_weights": None,
            "metrics": None,
            "weighted_metrics": None, "run_eagerly": False, "steps_per_execution": 1,
            "jit_compile": False}


def _serialize_loss(loss, loss_objects=False):
    if isinstance(loss, str) and loss_objects:
        loss = engine.losses.get(loss)
    if loss is None or isinstance(loss, str):
        return loss
    if isinstance(loss, (list, tuple)):
        return [_serialize_loss(item, loss_objects) for item in loss]
    if isinstance(loss, dict):
        return {key: _serialize_loss(item, loss_objects) for key, item in loss.items()}
    if isinstance(loss, engine.losses.Loss):
        return engine.losses.serialize(loss)
    name = getattr(loss, "__name__", None)
    if name is None:
        raise ValueError(f"Cannot save the loss {loss!r}: give a name, a Loss or a function")
    return name


def compile_from_config(model, config):
    """model.compile(...) from a Keras 3 compile_config or a Keras 2 training_config."""
    optimizer = config.get("optimizer") or config.get("optimizer_config")
    if optimizer is None:
        return
    model.compile(optimizer=engine.optimizers.deserialize(optimizer),
                  loss=_deserialize_loss(config.get("loss")))


def _deserialize_loss(loss):
    if isinstance(loss, list):
        return [_deserialize_loss(item) for item in loss]
    if isinstance(loss, dict) and "class_name" not in loss:
        return {key: _deserialize_loss(item) for key, item in loss.items()}
    return None if loss is None else engine.losses.get(loss)
