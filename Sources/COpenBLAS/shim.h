#ifndef COPENBLAS_SHIM_H
#define COPENBLAS_SHIM_H
#include <cblas.h>

/* LAPACK ships inside libopenblas; Debian has no lapacke.h without an extra package, so the two
   Fortran routines used (least squares and symmetric solve) are declared here. */
void sgels_(const char *trans, const int *m, const int *n, const int *nrhs, float *a, const int *lda,
            float *b, const int *ldb, float *work, const int *lwork, int *info);
void dgels_(const char *trans, const int *m, const int *n, const int *nrhs, double *a, const int *lda,
            double *b, const int *ldb, double *work, const int *lwork, int *info);
#endif
