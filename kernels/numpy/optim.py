"""NumPy fused optimizer updates: Keras's formulas computed in place on their fresh outputs.

Each update allocates only its outputs and runs every step of the formula in place on them
(ufuncs with a positional out, which parses faster than out=), so it makes no temporaries and
float32 stays float32 (Nesterov momentum needs one temporary). The inputs are never
written.

Slots come back with subnormal values flushed to zero. A weight whose gradient stays zero (a
dead ReLU unit) has its momentum decay into the subnormal range, where Keras's m += (g - m)(1 - b1)
stops moving (m (1 - b1) rounds to nothing), and every later multiply, divide or sqrt over the
slot runs 50-100x slower on x86 (microcode assists): the MLP benchmark's step went from 1.0 to
2.2 ms after ~800 steps on one batch. Values below the smallest normal float mean nothing next
to epsilon; TensorFlow flushes them for the whole process, which NumPy cannot.
"""
import numpy as np

from engine.registry import register_kernel

# x + c - c is 0 for |x| below the smallest normal, and x (to one rounding) otherwise; adds and
# subtracts of subnormals run at full speed. float16 is computed through float32 by NumPy, so
# its subnormals cost nothing and are kept.
_FLUSH_CONSTANTS = {np.dtype(t): np.finfo(t).tiny * 2.0 ** (np.finfo(t).nmant + 1)
                    for t in (np.float32, np.float64)}


def _flush_subnormals(slot):
    """Zero `slot`'s subnormal values in place (two passes that never slow down)."""
    constant = _FLUSH_CONSTANTS.get(slot.dtype)
    if constant is not None:
        slot += constant
        slot -= constant
    return slot


def _moving_average(average, value, decay):
    """decay * average + (1 - decay) * value, in a fresh array, as
    (value (1 - decay) / decay + average) decay: Keras's average + (value - average)(1 - decay)
    cancels to subnormals where the average has settled on the value (the rule on a batch
    trained long), and the multiply after it runs 30x slower on them."""
    if decay == 0:
        return np.array(value)
    result = np.multiply(value, (1 - decay) / decay)
    result += average
    result *= decay
    return result


@register_kernel("ApplyAdam", "numpy")
def apply_adam(variable, gradient, m, v, alpha, beta_1, beta_2, epsilon):
    new_m = _moving_average(m, gradient, beta_1)
    new_v = _moving_average(v, np.square(gradient), beta_2)
    new_variable = np.sqrt(new_v)
    new_variable += epsilon
    np.divide(new_m, new_variable, new_variable)
    new_variable *= alpha
    np.subtract(variable, new_variable, new_variable)
    return new_variable, _flush_subnormals(new_m), _flush_subnormals(new_v)


@register_kernel("ApplyMomentum", "numpy")
def apply_momentum(variable, gradient, m, learning_rate, momentum, nesterov):
    new_variable = np.multiply(gradient, learning_rate)  # lr g until the last step
    new_m = np.multiply(m, momentum)
    new_m -= new_variable
    if nesterov:  # w + (momentum m' - lr g): one temporary for momentum m'
        np.subtract(np.multiply(new_m, momentum), new_variable, new_variable)
        new_variable += variable
    else:
        np.add(variable, new_m, new_variable)
    return new_variable, _flush_subnormals(new_m)


@register_kernel("ApplyRMSProp", "numpy")
def apply_rmsprop(variable, gradient, v, learning_rate, rho, epsilon):
    new_v = np.multiply(v, rho)
    step = np.square(gradient)  # g^2 (1 - rho), then the new variable
    step *= 1 - rho
    new_v += step
    np.add(new_v, epsilon, step)
    np.sqrt(step, step)
    np.divide(gradient, step, step)
    step *= learning_rate
    np.subtract(variable, step, step)
    return step, _flush_subnormals(new_v)
