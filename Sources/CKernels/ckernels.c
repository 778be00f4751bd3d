#include "ckernels.h"

#include <math.h>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

/// One element: the reference chain every path reproduces bit for bit.
static inline float dot_chain(int k, const float *a, const float *b, int ldb) {
    float acc = 0.0f;
    for (int p = 0; p < k; p++) acc = fmaf(a[p], b[(long)p * ldb], acc);
    return acc;
}

static void gemm_scalar(int m, int n, int k, const float *a, int lda, const float *b, int ldb, float *c, int ldc) {
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) c[(long)i * ldc + j] = dot_chain(k, a + (long)i * lda, b + j, ldb);
}

#if defined(__x86_64__)
/// ROWS rows × 16 columns held in registers: per k, two loads of B, ROWS broadcasts of A and
/// 2·ROWS fused multiply-adds.
#define TILE(ROWS)                                                                                      \
    __attribute__((target("avx2,fma"))) static void tile##ROWS(int k, const float *a, int lda,         \
                                                               const float *b, int ldb, float *c, int ldc) { \
        __m256 lo[ROWS], hi[ROWS];                                                                      \
        for (int r = 0; r < ROWS; r++) { lo[r] = _mm256_setzero_ps(); hi[r] = _mm256_setzero_ps(); }   \
        for (int p = 0; p < k; p++) {                                                                   \
            const float *row = b + (long)p * ldb;                                                       \
            __m256 b0 = _mm256_loadu_ps(row), b1 = _mm256_loadu_ps(row + 8);                            \
            for (int r = 0; r < ROWS; r++) {                                                            \
                __m256 s = _mm256_broadcast_ss(a + (long)r * lda + p);                                  \
                lo[r] = _mm256_fmadd_ps(s, b0, lo[r]);                                                  \
                hi[r] = _mm256_fmadd_ps(s, b1, hi[r]);                                                  \
            }                                                                                           \
        }                                                                                               \
        for (int r = 0; r < ROWS; r++) {                                                                \
            _mm256_storeu_ps(c + (long)r * ldc, lo[r]);                                                 \
            _mm256_storeu_ps(c + (long)r * ldc + 8, hi[r]);                                             \
        }                                                                                               \
    }
TILE(1) TILE(2) TILE(3) TILE(4) TILE(5) TILE(6)

/// The columns past the last whole 16-column block, with hardware fused multiply-adds.
__attribute__((target("avx2,fma"))) static void tail_fma(int m, int n, int k, const float *a, int lda,
                                                         const float *b, int ldb, float *c, int ldc) {
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) {
            float acc = 0.0f;
            for (int p = 0; p < k; p++) acc = __builtin_fmaf(a[(long)i * lda + p], b[(long)p * ldb + j], acc);
            c[(long)i * ldc + j] = acc;
        }
}

typedef void (*tile_fn)(int, const float *, int, const float *, int, float *, int);

__attribute__((target("avx2,fma"))) static void gemm_avx2(int m, int n, int k, const float *a, int lda,
                                                          const float *b, int ldb, float *c, int ldc) {
    static const tile_fn tiles[7] = {0, tile1, tile2, tile3, tile4, tile5, tile6};
    int full = n / 16 * 16;
    // Column blocks outermost so a K×16 panel of B stays in cache across all row tiles.
    for (int j = 0; j < full; j += 16)
        for (int i = 0; i < m; i += 6) {
            int rows = m - i < 6 ? m - i : 6;
            tiles[rows](k, a + (long)i * lda, lda, b + j, ldb, c + (long)i * ldc + j, ldc);
        }
    if (full < n) tail_fma(m, n - full, k, a, lda, b + full, ldb, c + full, ldc);
}

static int has_avx2_fma(void) {
    static int cached = -1;
    if (cached < 0) cached = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    return cached;
}
#endif

void ck_gemm_exact(int m, int n, int k, const float *a, int lda, const float *b, int ldb, float *c, int ldc) {
#if defined(__x86_64__)
    if (has_avx2_fma()) {
        gemm_avx2(m, n, k, a, lda, b, ldb, c, ldc);
        return;
    }
#endif
    gemm_scalar(m, n, k, a, lda, b, ldb, c, ldc);
}
