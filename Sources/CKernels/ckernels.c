#include "ckernels.h"

#include <math.h>
#include <string.h>

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

// MARK: Direct convolution

/// Output positions per register tile (consecutive along W) and output channels per weight block.
enum { TILE_POSITIONS = 6, BLOCK_CHANNELS = 16, NARROW_CHANNELS = 8 };

/// Widths of the output-channel blocks: 16 each, the remainder in one block of 8 or 16.
static int block_width(int cout, int block) {
    int full = cout / BLOCK_CHANNELS;
    if (block < full) return BLOCK_CHANNELS;
    return cout - full * BLOCK_CHANNELS > NARROW_CHANNELS ? BLOCK_CHANNELS : NARROW_CHANNELS;
}

static int block_count(int cout) { return (cout + BLOCK_CHANNELS - 1) / BLOCK_CHANNELS; }

long ck_direct_weight_count(int cout, int cin, int taps) {
    long total = 0;
    for (int b = 0; b < block_count(cout); b++) total += (long)block_width(cout, b) * cin * taps;
    return total;
}

void ck_direct_pack_weight(int cout, int cin, int taps, const float *w, float *packed) {
    for (int b = 0, first = 0; b < block_count(cout); b++) {
        int width = block_width(cout, b);
        for (int ci = 0; ci < cin; ci++)
            for (int t = 0; t < taps; t++)
                for (int q = 0; q < width; q++) {
                    int co = first + q;
                    *packed++ = co < cout ? w[((long)co * cin + ci) * taps + t] : 0.0f;
                }
        first += width;
    }
}

/// Extent of the zero-padded channels-last input block that output rows oz0..<oz1 × oy0..<oy1 read.
static void input_block(const ck_conv_geometry *g, int oz0, int oz1, int oy0, int oy1, int *nz, int *ny, int *nx) {
    *nz = (oz1 - 1 - oz0) * g->stride[0] + g->kernel[0];
    *ny = (oy1 - 1 - oy0) * g->stride[1] + g->kernel[1];
    *nx = (g->out_size[2] - 1) * g->stride[2] + g->kernel[2];
}

long ck_direct_scratch_count(const ck_conv_geometry *g, int cin, int planes, int rows) {
    int nz, ny, nx;
    input_block(g, 0, planes, 0, rows, &nz, &ny, &nx);
    return (long)nz * ny * nx * cin;
}

/// One tile: TILE_POSITIONS outputs × `width` channels, each one fused multiply-add chain over
/// (input channel, tap) in that order, starting from 0: the order of `ck_gemm_exact` on vol2col
/// columns, so both paths give the same bits. `base[j]` points at output j's receptive
/// field in the channels-last block; `offsets[t]` is tap t's displacement in it.
static void direct_tile_scalar(int width, int taps, const int *offsets, int cin, const float *w,
                               const float *const *base, float *tile) {
    for (int j = 0; j < TILE_POSITIONS; j++)
        for (int q = 0; q < width; q++) {
            float acc = 0.0f;
            for (int ci = 0; ci < cin; ci++)
                for (int t = 0; t < taps; t++)
                    acc = fmaf(w[((long)ci * taps + t) * width + q], base[j][offsets[t] + ci], acc);
            tile[j * BLOCK_CHANNELS + q] = acc;
        }
}

#if defined(__x86_64__)
__attribute__((target("avx2,fma"))) static void direct_tile16(int taps, const int *offsets, int cin, const float *w,
                                                              const float *const *base, float *tile) {
    __m256 lo[TILE_POSITIONS], hi[TILE_POSITIONS];
    for (int j = 0; j < TILE_POSITIONS; j++) { lo[j] = _mm256_setzero_ps(); hi[j] = _mm256_setzero_ps(); }
    const float *x0 = base[0], *x1 = base[1], *x2 = base[2], *x3 = base[3], *x4 = base[4], *x5 = base[5];
    for (int ci = 0; ci < cin; ci++) {
        for (int t = 0; t < taps; t++) {
            const int o = offsets[t] + ci;
            __m256 w0 = _mm256_loadu_ps(w), w1 = _mm256_loadu_ps(w + 8), s;
            w += BLOCK_CHANNELS;
            s = _mm256_broadcast_ss(x0 + o); lo[0] = _mm256_fmadd_ps(w0, s, lo[0]); hi[0] = _mm256_fmadd_ps(w1, s, hi[0]);
            s = _mm256_broadcast_ss(x1 + o); lo[1] = _mm256_fmadd_ps(w0, s, lo[1]); hi[1] = _mm256_fmadd_ps(w1, s, hi[1]);
            s = _mm256_broadcast_ss(x2 + o); lo[2] = _mm256_fmadd_ps(w0, s, lo[2]); hi[2] = _mm256_fmadd_ps(w1, s, hi[2]);
            s = _mm256_broadcast_ss(x3 + o); lo[3] = _mm256_fmadd_ps(w0, s, lo[3]); hi[3] = _mm256_fmadd_ps(w1, s, hi[3]);
            s = _mm256_broadcast_ss(x4 + o); lo[4] = _mm256_fmadd_ps(w0, s, lo[4]); hi[4] = _mm256_fmadd_ps(w1, s, hi[4]);
            s = _mm256_broadcast_ss(x5 + o); lo[5] = _mm256_fmadd_ps(w0, s, lo[5]); hi[5] = _mm256_fmadd_ps(w1, s, hi[5]);
        }
    }
    for (int j = 0; j < TILE_POSITIONS; j++) {
        _mm256_storeu_ps(tile + j * BLOCK_CHANNELS, lo[j]);
        _mm256_storeu_ps(tile + j * BLOCK_CHANNELS + 8, hi[j]);
    }
}

__attribute__((target("avx2,fma"))) static void direct_tile8(int taps, const int *offsets, int cin, const float *w,
                                                             const float *const *base, float *tile) {
    __m256 acc[TILE_POSITIONS];
    for (int j = 0; j < TILE_POSITIONS; j++) acc[j] = _mm256_setzero_ps();
    for (int ci = 0; ci < cin; ci++)
        for (int t = 0; t < taps; t++) {
            __m256 w0 = _mm256_loadu_ps(w);
            w += NARROW_CHANNELS;
            for (int j = 0; j < TILE_POSITIONS; j++)
                acc[j] = _mm256_fmadd_ps(w0, _mm256_broadcast_ss(base[j] + offsets[t] + ci), acc[j]);
        }
    for (int j = 0; j < TILE_POSITIONS; j++) _mm256_storeu_ps(tile + j * BLOCK_CHANNELS, acc[j]);
}
#endif

static void direct_tile(int width, int taps, const int *offsets, int cin, const float *w, const float *const *base,
                        float *tile) {
#if defined(__x86_64__)
    if (has_avx2_fma()) {
        if (width == BLOCK_CHANNELS) direct_tile16(taps, offsets, cin, w, base, tile);
        else direct_tile8(taps, offsets, cin, w, base, tile);
        return;
    }
#endif
    direct_tile_scalar(width, taps, offsets, cin, w, base, tile);
}

/// Copies the input that output rows oz0..<oz1 × oy0..<oy1 read into `block` [nz][ny][nx][cin],
/// zero where it falls outside the volume (the convolution's padding).
static void gather_channels_last(const ck_conv_geometry *g, int cin, const float *const *in_planes, int oz0, int oz1,
                                 int oy0, int oy1, float *block) {
    int nz, ny, nx;
    input_block(g, oz0, oz1, oy0, oy1, &nz, &ny, &nx);
    const int d = g->in_size[0], h = g->in_size[1], w = g->in_size[2];
    const int z0 = oz0 * g->stride[0] - g->padding[0], y0 = oy0 * g->stride[1] - g->padding[1];
    const int x0 = -g->padding[2];
    for (int zz = 0; zz < nz; zz++)
        for (int yy = 0; yy < ny; yy++) {
            float *row = block + ((long)zz * ny + yy) * nx * cin;
            int iz = z0 + zz, iy = y0 + yy;
            if (iz < 0 || iz >= d || iy < 0 || iy >= h) {
                memset(row, 0, sizeof(float) * (size_t)nx * (size_t)cin);
                continue;
            }
            int lo = -x0 < nx ? -x0 : nx, hi = w - x0 < nx ? w - x0 : nx;
            if (lo > 0) memset(row, 0, sizeof(float) * (size_t)lo * (size_t)cin);
            if (hi < nx) memset(row + (long)hi * cin, 0, sizeof(float) * (size_t)(nx - hi) * (size_t)cin);
            long offset = ((long)iz * h + iy) * w + x0;
            for (int ci = 0; ci < cin; ci++) {
                const float *src = in_planes[ci] + offset;
                for (int xx = lo; xx < hi; xx++) row[(long)xx * cin + ci] = src[xx];
            }
        }
}

void ck_conv_direct(const ck_conv_geometry *g, int cin, const float *const *in_planes, int cout,
                    const float *packed_weight, const float *bias, float *const *out_planes, int oz0, int oz1,
                    int oy0, int oy1, float *scratch) {
    int nz, ny, nx;
    input_block(g, oz0, oz1, oy0, oy1, &nz, &ny, &nx);
    gather_channels_last(g, cin, in_planes, oz0, oz1, oy0, oy1, scratch);
    const int kd = g->kernel[0], kh = g->kernel[1], kw = g->kernel[2];
    const int taps = kd * kh * kw;
    const int oh = g->out_size[1], ow = g->out_size[2];
    const int sz = g->stride[0], sy = g->stride[1], sx = g->stride[2];
    int offsets[taps];
    for (int a = 0, t = 0; a < kd; a++)
        for (int b = 0; b < kh; b++)
            for (int c = 0; c < kw; c++, t++) offsets[t] = (int)((((long)a * ny + b) * nx + c) * cin);
    float tile[TILE_POSITIONS * BLOCK_CHANNELS];
    for (int oz = oz0; oz < oz1; oz++)
        for (int oy = oy0; oy < oy1; oy++) {
            const float *row = scratch + (((long)(oz - oz0) * sz * ny) + (long)(oy - oy0) * sy) * nx * cin;
            long rowStart = ((long)oz * oh + oy) * ow;
            const float *w = packed_weight;
            for (int b = 0, first = 0; b < block_count(cout); b++) {
                int width = block_width(cout, b);
                int channels = cout - first < width ? cout - first : width;
                for (int ox = 0; ox < ow; ox += TILE_POSITIONS) {
                    // A last, partial tile repeats its final position; only the valid ones are stored.
                    const float *base[TILE_POSITIONS];
                    for (int j = 0; j < TILE_POSITIONS; j++)
                        base[j] = row + (long)(ox + j < ow ? ox + j : ow - 1) * sx * cin;
                    direct_tile(width, taps, offsets, cin, w, base, tile);
                    int valid = ow - ox < TILE_POSITIONS ? ow - ox : TILE_POSITIONS;
                    for (int q = 0; q < channels; q++) {
                        float *dst = out_planes[first + q] + rowStart + ox;
                        if (bias) {
                            for (int j = 0; j < valid; j++) dst[j] = tile[j * BLOCK_CHANNELS + q] + bias[first + q];
                        } else {
                            for (int j = 0; j < valid; j++) dst[j] = tile[j * BLOCK_CHANNELS + q];
                        }
                    }
                }
                w += (long)width * cin * taps;
                first += width;
            }
        }
}
