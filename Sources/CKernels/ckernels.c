#include "ckernels.h"

#include <math.h>
#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#if defined(__x86_64__)
static int has_avx2_fma(void) {
    static int cached = -1;
    if (cached < 0) cached = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    return cached;
}
#endif

// MARK: Direct convolution

/// Output positions per register tile (consecutive in an output plane) and output channels per
/// weight block.
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
            // Block columns lo..<hi read input x0 + xx inside 0..<w (the padding may be negative).
            int lo = -x0 < 0 ? 0 : (-x0 < nx ? -x0 : nx);
            int hi = w - x0 < nx ? w - x0 : nx;
            if (hi < lo) hi = lo;
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
    const int ow = g->out_size[2];
    const int sz = g->stride[0], sy = g->stride[1], sx = g->stride[2];
    const int dh = g->dest_size[1], dw = g->dest_size[2], step = g->dest_stride[2];
    int offsets[taps];
    for (int a = 0, t = 0; a < kd; a++)
        for (int b = 0; b < kh; b++)
            for (int c = 0; c < kw; c++, t++) offsets[t] = (int)((((long)a * ny + b) * nx + c) * cin);
    float tile[TILE_POSITIONS * BLOCK_CHANNELS];
    // Tiles run over the positions of each output plane's rows flattened, so a narrow plane (W of 4
    // or 8 deep in a network) still fills whole tiles.
    const int rows = oy1 - oy0;
    const long positions = (long)rows * ow;
    for (int oz = oz0; oz < oz1; oz++) {
        const float *plane = scratch + (long)(oz - oz0) * sz * ny * nx * cin;
        long destPlane = (long)(oz * g->dest_stride[0] + g->dest_offset[0]) * dh;
        const float *w = packed_weight;
        for (int b = 0, first = 0; b < block_count(cout); b++) {
            int width = block_width(cout, b);
            int channels = cout - first < width ? cout - first : width;
            for (long p0 = 0; p0 < positions; p0 += TILE_POSITIONS) {
                // A last, partial tile repeats its final position; only the valid ones are stored.
                const float *base[TILE_POSITIONS];
                long dest[TILE_POSITIONS];
                for (int j = 0; j < TILE_POSITIONS; j++) {
                    long p = p0 + j < positions ? p0 + j : positions - 1;
                    int y = (int)(p / ow), x = (int)(p % ow);
                    base[j] = plane + ((long)y * sy * nx + (long)x * sx) * cin;
                    dest[j] = (destPlane + (oy0 + y) * g->dest_stride[1] + g->dest_offset[1]) * dw
                              + (long)x * step + g->dest_offset[2];
                }
                direct_tile(width, taps, offsets, cin, w, base, tile);
                int valid = positions - p0 < TILE_POSITIONS ? (int)(positions - p0) : TILE_POSITIONS;
                for (int q = 0; q < channels; q++) {
                    float *out = out_planes[first + q];
                    if (bias) {
                        for (int j = 0; j < valid; j++) out[dest[j]] = tile[j * BLOCK_CHANNELS + q] + bias[first + q];
                    } else {
                        for (int j = 0; j < valid; j++) out[dest[j]] = tile[j * BLOCK_CHANNELS + q];
                    }
                }
            }
            w += (long)width * cin * taps;
            first += width;
        }
    }
}
