"""NumPy fused optimizer updates: Keras's formulas computed in place on their fresh outputs.

Each update allocates only its outputs and runs every step of the formula in place on them
(ufuncs with a positional out, which parses faster than out=), so it makes no temporaries and
float32 stays float32 (Nesterov momentum needs one temporary). The inputs are never
written. Subnormal slot values, which slow every pass over them, are zeroed by the optimizer
every few steps (engine/optimizers/base.py), not in each update.
"""
import numpy as np

from engine.registry import register_kernel

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
    return new_variable, new_m, new_v


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
    return new_variable, new_m


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
    return step, new_v
