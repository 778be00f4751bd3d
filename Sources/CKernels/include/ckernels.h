#ifndef CKERNELS_H
#define CKERNELS_H

/// C[m, n] = sum over k of A[m, k] * B[k, n], row-major with leading dimensions lda, ldb, ldc.
/// Every element is one fused multiply-add chain over k in increasing order starting from 0, so
/// an element depends only on its row of A and its column of B: never on its position, the matrix
/// sizes or the instruction set that ran it (AVX2+FMA lanes and the scalar fmaf path round alike).
void ck_gemm_exact(int m, int n, int k, const float *a, int lda, const float *b, int ldb, float *c, int ldc);

#endif
