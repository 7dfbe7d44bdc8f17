"""CuPy fused optimizer updates: one ElementwiseKernel per update writes the new variable and
its new slots in one pass (float16 computes in float32 through run_fused).

Factors such as 1 - beta_1 are computed on the host in double, as the NumPy kernels do.
"""
from engine.kernels.cupy.elementwise import define_fused, fused, run_fused
from engine.registry import register_kernel

_ADAM = define_fused(
    "apply_adam",
    "T m_next = m + (g - m) * T(one_minus_beta_1); "
    "T v_next = v + (g * g - v) * T(one_minus_beta_2); "
    "new_w = w - (m_next * T(alpha)) / (sqrt(v_next) + T(epsilon)); "
    "new_m = m_next; new_v = v_next",
    "T w, T g, T m, T v, float64 alpha, float64 one_minus_beta_1, float64 one_minus_beta_2, "
    "float64 epsilon",
    "T new_w, T new_m, T new_v")

_MOMENTUM = define_fused(
    "apply_momentum",
    "T scaled_g = g * T(learning_rate); T m_next = m * T(momentum) - scaled_g; "
    "new_w = w + (nesterov ? m_next * T(momentum) - scaled_g : m_next); new_m = m_next",
    "T w, T g, T m, float64 learning_rate, float64 momentum, int32 nesterov",
    "T new_w, T new_m")

_RMSPROP = define_fused(
    "apply_rmsprop",
    "T v_next = v * T(rho) + g * g * T(one_minus_rho); "
    "new_w = w - g * T(learning_rate) / sqrt(v_next + T(epsilon)); new_v = v_next",
    "T w, T g, T v, float64 learning_rate, float64 rho, float64 one_minus_rho, float64 epsilon",
    "T new_w, T new_v")


@register_kernel("ApplyAdam", "cupy")
def apply_adam(variable, gradient, m, v, alpha, beta_1, beta_2, epsilon):
    return run_fused(fused(_ADAM), variable, gradient, m, v, alpha, 1 - beta_1, 1 - beta_2,
                     epsilon)


@register_kernel("ApplyMomentum", "cupy")
def apply_momentum(variable, gradient, m, learning_rate, momentum, nesterov):
    return run_fused(fused(_MOMENTUM), variable, gradient, m, learning_rate, momentum,
                     int(nesterov))


@register_kernel("ApplyRMSProp", "cupy")
def apply_rmsprop(variable, gradient, v, learning_rate, rho, epsilon):
    return run_fused(fused(_RMSPROP), variable, gradient, v, learning_rate, rho, 1 - rho,
                     epsilon)
