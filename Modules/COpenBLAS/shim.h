#ifndef COPENBLAS_SHIM_H
#define COPENBLAS_SHIM_H
// OpenBLAS's CBLAS interface (sgemm and friends) and LAPACKE (QR for orthogonal initialization).
// The include directory of cblas.h comes from pkg-config (openblas.pc); lapacke.h is on the
// default include path of Debian's liblapacke-dev.
#include <cblas.h>
#include <lapacke.h>
#endif
