#ifndef COPENBLAS_SHIM_H
#define COPENBLAS_SHIM_H
#include <cblas.h>

/* LAPACK ships inside libopenblas; Debian has no lapacke.h without an extra package, so the one
   Fortran routine used (double-precision least squares, for KernelSHAP) is declared here. */
void dgels_(const char *trans, const int *m, const int *n, const int *nrhs, double *a, const int *lda,
            double *b, const int *ldb, double *work, const int *lwork, int *info);
#endif
