#ifndef RLHF_CPREFETCH_H
#define RLHF_CPREFETCH_H
// Software prefetch for the kernels: Swift has no prefetch intrinsic.
static inline void rlhf_prefetch(const void *p) { __builtin_prefetch(p, 0, 3); }
#endif
