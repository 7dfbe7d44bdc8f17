"""Optimizer base: gradient clipping, weight decay, learning rate (float or schedule), slot
variables and the iteration counter, following keras.optimizers.Optimizer.

Subclasses define `build_slots(variables)` (which calls `add_slots`) and
`update_step(gradient, variable, learning_rate)`.
"""
import re

import numpy as np

import engine
from engine import tracing
from engine.dispatch import run_kernel
from engine.optimizers import schedules
from engine.tensor import Variable

FLUSH_EVERY = 16  # steps between zeroing the slots' subnormal values

# A weight whose gradient stays zero (a dead ReLU unit) has its momentum decay into the
# subnormal range, where Keras's m += (g - m)(1 - b1) stops moving (m (1 - b1) rounds to
# nothing), and every later pass over the slot runs 50-100x slower on x86 (microcode assists):
# the MLP benchmark's step went from 1.0 to 2.2 ms after ~800 steps on one batch. Values below
# the smallest normal float mean nothing next to epsilon; TensorFlow flushes them for the
# whole process, which NumPy cannot. x + c - c is 0 for |x| below the smallest normal and x (to
# one rounding) otherwise, and adds of subnormals run at full speed. Every FLUSH_EVERY steps is
# enough: a value then spends at most that many steps subnormal (each update flushing its
# slots cost the MLP step 4%). float16 is left alone (NumPy computes it through float32).
_FLUSH_CONSTANTS = {name: float(np.finfo(name).tiny) * 2.0 ** (np.finfo(name).nmant + 1)
                    for name in ("float32", "float64")}

# Keras options we accept only at their defaults, so Keras configs load unchanged.
_KERAS_DEFAULTS = {"use_ema": False, "ema_momentum": 0.99, "ema_overwrite_frequency": None,
                   "loss_scale_factor": None, "gradient_accumulation_steps": None}


def _snake_case(name):
    return re.sub(r"(?<!^)(?=[A-Z][a-z])", "_", name).lower()


class Optimizer:
    """Applies gradients to variables; state is `iterations`, the learning rate and slots."""

    def __init__(self, learning_rate, weight_decay=None, clipnorm=None, clipvalue=None,
                 global_clipnorm=None, name=None, **keras_options):
        kind = type(self).__name__
        for key, value in keras_options.items():
            if key not in _KERAS_DEFAULTS:
                raise TypeError(f"Error in {kind}: unknown argument '{key}'")
            if value != _KERAS_DEFAULTS[key]:
                raise ValueError(f"Error in {kind}: {key}={value!r} is not supported "
                                 f"(only {_KERAS_DEFAULTS[key]!r})")
        if sum(option is not None for option in (clipnorm, clipvalue, global_clipnorm)) > 1:
            raise ValueError(f"Error in {kind}: only one of clipnorm, clipvalue and "
                             f"global_clipnorm can be set, got clipnorm={clipnorm}, "
                             f"clipvalue={clipvalue}, global_clipnorm={global_clipnorm}")
        self.name = name or _snake_case(kind)
        self.weight_decay = weight_decay
        self.clipnorm = clipnorm
        self.clipvalue = clipvalue
        self.global_clipnorm = global_clipnorm
        self.iterations = Variable(0, trainable=False, name="iteration", dtype="int32")
        self.local_step = 0  # iterations + 1 during apply_gradients (read once per step)
        self.step_learning_rate = None  # the learning rate of the step being applied
        self._fused_attrs = None  # its fused update kernel's attributes (fused_attrs)
        if isinstance(learning_rate, dict):
            learning_rate = schedules.deserialize(learning_rate)
        if callable(learning_rate):
            self._learning_rate = learning_rate
        elif isinstance(learning_rate, (int, float)) and not isinstance(learning_rate, bool):
            self._learning_rate = Variable(float(learning_rate), trainable=False,
                                           name="learning_rate", dtype="float32")
        else:
            raise TypeError(f"Error in {kind}: learning_rate must be a float or a schedule, "
                            f"got {learning_rate!r}")
        self._slot_lists = []     # one list of slot Variables per slot name, in creation order
        self._slot_index = {}     # id(model variable) -> its position in every slot list
        self._slot_names = {}     # slot name -> its list

    # ------------------------------------------------------------------ learning rate
    @property
    def learning_rate(self):
        """The current learning rate as a float (a schedule is evaluated at `iterations`)."""
        if isinstance(self._learning_rate, Variable):
            return float(self._learning_rate.item())
        return float(self._learning_rate(int(self.iterations.item())))

    @learning_rate.setter
    def learning_rate(self, value):
        if not isinstance(self._learning_rate, Variable):
            raise TypeError(f"Error in {type(self).__name__}: the learning rate is a schedule "
                            "and cannot be set to a value")
        self._learning_rate.assign(float(value))

    @property
    def uses_schedule(self):
        return not isinstance(self._learning_rate, Variable)

    # ------------------------------------------------------------------ slots
    def build(self, variables):
        """Create slot variables for any of `variables` that has none yet (in their order)."""
        new = [v for v in variables if id(v) not in self._slot_index]
        if new:
            start = len(next(iter(self._slot_names.values()), ())) if self._slot_names else 0
            for offset, variable in enumerate(new):
                self._slot_index[id(variable)] = start + offset
            self.build_slots(new)

    def build_slots(self, variables):
        """Subclasses call add_slots for their slot groups; the base has no slots."""

    def add_slots(self, variables, names, initial_value=0.0):
        """Add one slot per name for each variable, interleaved per variable (Keras's order)."""
        for name in names:
            self._slot_names.setdefault(name, [])
        for variable in variables:
            for name in names:
                slot = Variable(engine.full(variable.shape, initial_value, dtype=variable.dtype,
                                            backend=variable.backend),
                                trainable=False, name=f"{variable.name}_{name}")
                self._slot_names[name].append(slot)
                self._slot_lists.append(slot)

    def slot(self, variable, name):
        return self._slot_names[name][self._slot_index[id(variable)]]

    def variables(self):
        """iteration, learning_rate (unless a schedule), then the slots in Keras's order."""
        head = [self.iterations]
        if not self.uses_schedule:
            head.append(self._learning_rate)
        return head + list(self._slot_lists)

    # ------------------------------------------------------------------ applying
    def apply(self, grads, trainable_variables):
        """Keras 3's form of apply_gradients: the gradients and their variables as two
        lists."""
        grads, trainable_variables = list(grads), list(trainable_variables)
        if len(grads) != len(trainable_variables):
            raise ValueError(f"Error in {type(self).__name__}.apply: {len(grads)} gradients "
                             f"for {len(trainable_variables)} variables")
        return self.apply_gradients(zip(grads, trainable_variables))

    @property
    def fused_updates(self):
        """Whether every update_step is one apply_fused kernel (subclasses say when)."""
        return False

    @property
    def traceable(self):
        """Whether a traced step can replay this optimizer: fused updates, whose per-step
        attributes fused_attrs recomputes at each replay, and no weight decay (its factor
        would be frozen)."""
        return self.fused_updates and not self.weight_decay

    def fused_attrs(self, learning_rate):
        """The attributes of this step's fused update kernel (computed once a step)."""
        raise NotImplementedError(f"{type(self).__name__} has no fused update")

    def apply_gradients(self, grads_and_vars):
        """One optimisation step: clip, decay weights, update each variable, count the step."""
        if tracing.RECORDING and not self.traceable:
            tracing.RECORDING[0].optimizer_applied()
        pairs = [(g, v) for g, v in grads_and_vars if g is not None]
        kind = type(self).__name__
        for grad, variable in pairs:
            if not isinstance(variable, Variable):
                raise TypeError(f"Error in {kind}.apply_gradients: expected Variables, got "
                                f"{type(variable).__name__}")
            if tuple(grad.shape) != variable.shape:
                raise ValueError(f"Error in {kind}.apply_gradients: gradient shape "
                                 f"{tuple(grad.shape)} does not match variable "
                                 f"'{variable.name}' of shape {variable.shape}")
        if not pairs:
            return self.iterations
        grads = [engine.cast(engine.convert_to_tensor(g, like=v), v.dtype) for g, v in pairs]
        variables = [v for _, v in pairs]
        self.build(variables)
        grads = self._clip(grads)
        tracing.host_step(self._start_step)
        learning_rate = self.step_learning_rate
        if self.weight_decay:
            for variable in variables:
                variable.assign(variable - variable * (self.weight_decay * learning_rate))
        for grad, variable in zip(grads, variables):
            self.update_step(grad, variable, learning_rate)
            if variable.constraint is not None:  # Keras projects right after the update
                variable.assign(variable.constraint(variable))
        tracing.host_step(self._finish_step)
        return self.iterations

    def _start_step(self):
        """This step's learning rate and 1-based number (for bias corrections), and the fused
        kernel's attributes: Python values a traced step recomputes at each replay."""
        self.step_learning_rate = self.learning_rate
        self.local_step = int(self.iterations.item()) + 1
        if self.fused_updates:
            self._fused_attrs = self.fused_attrs(self.step_learning_rate)

    def _finish_step(self):
        if self.local_step % FLUSH_EVERY == 0:
            for slot in self._slot_lists:
                _flush_subnormals(slot)
        self.iterations.assign_add(1)

    def update_step(self, gradient, variable, learning_rate):
        raise NotImplementedError(f"{type(self).__name__} must implement update_step")

    def apply_fused(self, op, variable, gradient, slots):
        """One fused update kernel (kernel_names.OPTIMIZER_UPDATES) for `variable` with this
        step's fused_attrs: its new value and its slots' new values, assigned in the kernel's
        output order."""
        tracing.attrs_from(self._current_fused_attrs)
        outputs = run_kernel(op, (variable, gradient, *slots), **self._fused_attrs)
        for target, value in zip((variable, *slots), outputs):
            tracing.assigned(target, value)
            target.native = value.native  # the kernel keeps each input's shape and dtype

    def _current_fused_attrs(self):
        return self._fused_attrs

    def _clip(self, grads):
        if self.clipnorm:
            return [_clip_by_norm(g, self.clipnorm) for g in grads]
        if self.global_clipnorm:
            return _clip_by_global_norm(grads, self.global_clipnorm)
        if self.clipvalue:
            return [engine.clip(g, -self.clipvalue, self.clipvalue) for g in grads]
        return grads

    # ------------------------------------------------------------------ config
    def get_config(self):
        rate = (schedules.serialize(self._learning_rate) if self.uses_schedule
                else self.learning_rate)
        return {"name": self.name, "learning_rate": rate, "weight_decay": self.weight_decay,
                "clipnorm": self.clipnorm, "global_clipnorm": self.global_clipnorm,
                "clipvalue": self.clipvalue, **_KERAS_DEFAULTS}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def _flush_subnormals(slot):
    """Zero the subnormal values of a floating-point slot (see _FLUSH_CONSTANTS)."""
    constant = _FLUSH_CONSTANTS.get(slot.dtype)
    if constant is not None:
        slot.assign((slot + constant) - constant)


def _clip_by_norm(grad, clipnorm):
    """grad * clipnorm / max(||grad||, clipnorm)."""
    norm = engine.sqrt(engine.sum(engine.square(grad)))
    return grad * clipnorm / engine.maximum(norm, clipnorm)


def _clip_by_global_norm(grads, clipnorm):
    """Scale every gradient by clipnorm / max(global norm, clipnorm)."""
    total = None
    for grad in grads:
        squared = engine.sum(engine.square(grad))
        total = squared if total is None else total + squared
    scale = clipnorm / engine.maximum(engine.sqrt(total), clipnorm)
    return [grad * scale for grad in grads]
