// Fused optimizer updates, one work-item per element, Keras's formulas. Every kernel reads the
// variable and its slots and writes their new values to fresh buffers (the inputs stay as they
// were). TYPE is the storage type, REAL the type arithmetic runs in; LOAD and STORE read and
// write TYPE (through vload_half/vstore_half for half), defined by optim.py.

__kernel void apply_adam(__global const TYPE* w, __global const TYPE* g, __global const TYPE* m,
                         __global const TYPE* v, __global TYPE* new_w, __global TYPE* new_m,
                         __global TYPE* new_v, REAL alpha, REAL one_minus_beta_1,
                         REAL one_minus_beta_2, REAL epsilon)
{
    const size_t i = get_global_id(0);
    const REAL grad = LOAD(g, i), m_old = LOAD(m, i), v_old = LOAD(v, i);
    const REAL m_next = m_old + (grad - m_old) * one_minus_beta_1;
    const REAL v_next = v_old + (grad * grad - v_old) * one_minus_beta_2;
    STORE(m_next, new_m, i);
    STORE(v_next, new_v, i);
    STORE(LOAD(w, i) - (m_next * alpha) / (sqrt(v_next) + epsilon), new_w, i);
}

__kernel void apply_momentum(__global const TYPE* w, __global const TYPE* g,
                             __global const TYPE* m, __global TYPE* new_w, __global TYPE* new_m,
                             REAL learning_rate, REAL momentum, int nesterov)
{
    const size_t i = get_global_id(0);
    const REAL scaled_grad = LOAD(g, i) * learning_rate;
    const REAL m_next = LOAD(m, i) * momentum - scaled_grad;
    STORE(m_next, new_m, i);
    STORE(LOAD(w, i) + (nesterov ? m_next * momentum - scaled_grad : m_next), new_w, i);
}

__kernel void apply_rmsprop(__global const TYPE* w, __global const TYPE* g,
                            __global const TYPE* v, __global TYPE* new_w, __global TYPE* new_v,
                            REAL learning_rate, REAL rho, REAL one_minus_rho, REAL epsilon)
{
    const size_t i = get_global_id(0);
    const REAL grad = LOAD(g, i);
    const REAL v_next = LOAD(v, i) * rho + grad * grad * one_minus_rho;
    STORE(v_next, new_v, i);
    STORE(LOAD(w, i) - grad * learning_rate / sqrt(v_next + epsilon), new_w, i);
}
