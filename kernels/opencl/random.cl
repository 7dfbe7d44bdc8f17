// Counter-based random numbers, bit for bit the algorithm of kernels/numpy/random.py.
// OUT is the output's C type, REAL the type the float math runs in; STORE(value, i) writes
// out[i] (through vstore_half for half, which needs no cl_khr_fp16).

uint hash32(uint x)
{
    x ^= x >> 16;
    x *= 0x7feb352du;
    x ^= x >> 15;
    x *= 0x846ca68bu;
    x ^= x >> 16;
    return x;
}

uint stream_key(uint seed)
{
    return hash32(seed + 0x9e3779b9u);
}

REAL uniform01(uint counter, uint key)
{
    return (REAL)(hash32(hash32(counter) ^ key) >> 8) * (REAL)5.9604644775390625e-08;
}

REAL standard_normal(uint counter, uint key)
{
    REAL u1 = uniform01(counter * 2u, key);
    REAL u2 = uniform01(counter * 2u + 1u, key);
    return sqrt((REAL)-2 * log((REAL)1 - u1)) * cos((REAL)6.283185307179586 * u2);
}

__kernel void random_uniform(__global OUT* out, uint seed, REAL low, REAL high, int is_int)
{
    uint i = get_global_id(0);
    REAL value = low + (high - low) * uniform01(i, stream_key(seed));
    STORE(is_int ? floor(value) : value, i);
}

__kernel void random_normal(__global OUT* out, uint seed, REAL mean, REAL stddev)
{
    uint i = get_global_id(0);
    STORE(mean + stddev * standard_normal(i, stream_key(seed)), i);
}

__kernel void truncated_normal(__global OUT* out, uint seed, REAL mean, REAL stddev, uint size)
{
    uint i = get_global_id(0), key = stream_key(seed);
    REAL z = standard_normal(i, key);
    for (uint round = 1; round < ROUNDS && fabs(z) > BOUND; ++round)
        z = standard_normal(i + round * size, key);
    z = clamp(z, (REAL)-BOUND, (REAL)BOUND);
    STORE(mean + stddev * z, i);
}
