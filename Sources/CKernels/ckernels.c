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

/// Position tiles: output channels per group, and 8-float vectors of consecutive positions per
/// tile for a group of r channels: at most 8 accumulators plus the inputs and one broadcast weight
/// stay in the 16 vector registers (12 accumulators made the compiler shuffle and spill them).
enum { POSITION_GROUP = 4, POSITION_TILE_MAX = 64 };

static int position_vectors(int r) { return r == 1 ? 8 : r == 2 ? 4 : r == 3 ? 3 : 2; }

static int group_count(int path, int cout) {
    return path == CK_POSITION_TILES ? (cout + POSITION_GROUP - 1) / POSITION_GROUP : block_count(cout);
}

/// Channels in group `b`: position tiles take groups of 4 and the remainder; channel tiles
/// blocks of 16 (the last one 8 or 16 wide, zero-padded).
static int group_width(int path, int cout, int b) {
    if (path != CK_POSITION_TILES) return block_width(cout, b);
    return b < cout / POSITION_GROUP ? POSITION_GROUP : cout - (cout / POSITION_GROUP) * POSITION_GROUP;
}

int ck_direct_path(const ck_conv_geometry *g, int cin, int cout, int reference) {
    if (reference) return CK_SCALAR_REFERENCE;
    if (g->stride[1] != 1 || g->stride[2] != 1) return CK_CHANNEL_TILES;
    const int taps = g->kernel[0] * g->kernel[1] * g->kernel[2];
    return cout <= 4 || cin == 1 || taps == 1 ? CK_POSITION_TILES : CK_CHANNEL_TILES;
}

long ck_direct_weight_count(int path, int cout, int cin, int taps) {
    long total = 0;
    for (int b = 0; b < group_count(path, cout); b++) total += (long)group_width(path, cout, b) * cin * taps;
    return total;
}

void ck_direct_pack_weight(int path, int cout, int cin, int taps, const float *w, float *packed) {
    for (int b = 0, first = 0; b < group_count(path, cout); b++) {
        int width = group_width(path, cout, b);
        for (int ci = 0; ci < cin; ci++)
            for (int t = 0; t < taps; t++)
                for (int q = 0; q < width; q++) {
                    int co = first + q;
                    *packed++ = co < cout ? w[((long)co * cin + ci) * taps + t] : 0.0f;
                }
        first += width;
    }
}

/// Extent of the zero-padded input block that output rows oz0..<oz1 × oy0..<oy1 read.
static void input_block(const ck_conv_geometry *g, int oz0, int oz1, int oy0, int oy1, int *nz, int *ny, int *nx) {
    *nz = (oz1 - 1 - oz0) * g->stride[0] + g->kernel[0];
    *ny = (oy1 - 1 - oy0) * g->stride[1] + g->kernel[1];
    *nx = (g->out_size[2] - 1) * g->stride[2] + g->kernel[2];
}

long ck_direct_scratch_count(int path, const ck_conv_geometry *g, int cin, int planes, int rows) {
    int nz, ny, nx;
    input_block(g, 0, planes, 0, rows, &nz, &ny, &nx);
    // A position tile may read up to one tile past the last channel's block (outputs it discards).
    return (long)nz * ny * nx * cin + (path == CK_POSITION_TILES ? POSITION_TILE_MAX : 0);
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

static void direct_tile(int reference, int width, int taps, const int *offsets, int cin, const float *w,
                        const float *const *base, float *tile) {
#if defined(__x86_64__)
    if (!reference && has_avx2_fma()) {
        if (width == BLOCK_CHANNELS) direct_tile16(taps, offsets, cin, w, base, tile);
        else direct_tile8(taps, offsets, cin, w, base, tile);
        return;
    }
#endif
    direct_tile_scalar(width, taps, offsets, cin, w, base, tile);
}

#if defined(__x86_64__)
/// Transposes 8 channels × 8 consecutive x of the input planes into the channels-last row:
/// row[(x + k)·cin + c] = src[c][x + k] for c, k < 8. Moves values only, so the bits are the
/// scalar loop's.
__attribute__((target("avx2"))) static void transpose8x8(const float *const *src, long x, float *row, long cin) {
    __m256 r0 = _mm256_loadu_ps(src[0] + x), r1 = _mm256_loadu_ps(src[1] + x), r2 = _mm256_loadu_ps(src[2] + x),
           r3 = _mm256_loadu_ps(src[3] + x), r4 = _mm256_loadu_ps(src[4] + x), r5 = _mm256_loadu_ps(src[5] + x),
           r6 = _mm256_loadu_ps(src[6] + x), r7 = _mm256_loadu_ps(src[7] + x);
    __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1), t2 = _mm256_unpacklo_ps(r2, r3),
           t3 = _mm256_unpackhi_ps(r2, r3), t4 = _mm256_unpacklo_ps(r4, r5), t5 = _mm256_unpackhi_ps(r4, r5),
           t6 = _mm256_unpacklo_ps(r6, r7), t7 = _mm256_unpackhi_ps(r6, r7);
    __m256 s0 = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(1, 0, 1, 0)), s1 = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(3, 2, 3, 2)),
           s2 = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(1, 0, 1, 0)), s3 = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(3, 2, 3, 2)),
           s4 = _mm256_shuffle_ps(t4, t6, _MM_SHUFFLE(1, 0, 1, 0)), s5 = _mm256_shuffle_ps(t4, t6, _MM_SHUFFLE(3, 2, 3, 2)),
           s6 = _mm256_shuffle_ps(t5, t7, _MM_SHUFFLE(1, 0, 1, 0)), s7 = _mm256_shuffle_ps(t5, t7, _MM_SHUFFLE(3, 2, 3, 2));
    float *out = row + x * cin;
    _mm256_storeu_ps(out, _mm256_permute2f128_ps(s0, s4, 0x20));
    _mm256_storeu_ps(out + cin, _mm256_permute2f128_ps(s1, s5, 0x20));
    _mm256_storeu_ps(out + 2 * cin, _mm256_permute2f128_ps(s2, s6, 0x20));
    _mm256_storeu_ps(out + 3 * cin, _mm256_permute2f128_ps(s3, s7, 0x20));
    _mm256_storeu_ps(out + 4 * cin, _mm256_permute2f128_ps(s0, s4, 0x31));
    _mm256_storeu_ps(out + 5 * cin, _mm256_permute2f128_ps(s1, s5, 0x31));
    _mm256_storeu_ps(out + 6 * cin, _mm256_permute2f128_ps(s2, s6, 0x31));
    _mm256_storeu_ps(out + 7 * cin, _mm256_permute2f128_ps(s3, s7, 0x31));
}
#endif

/// Copies the input that output rows oz0..<oz1 × oy0..<oy1 read into `block` [nz][ny][nx][cin],
/// zero where it falls outside the volume (the convolution's padding). Groups of 8 channels go
/// through 8×8 vector transposes (`vector` non-zero); the rest, and the reference path, are
/// copied one value at a time.
static void gather_channels_last(int vector, const ck_conv_geometry *g, int cin, const float *const *in_planes,
                                 int oz0, int oz1, int oy0, int oy1, float *block) {
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
            int ci = 0;
#if defined(__x86_64__)
            if (vector && hi - lo >= 8)
                for (; ci + 8 <= cin; ci += 8) {
                    const float *src[8];
                    for (int k = 0; k < 8; k++) src[k] = in_planes[ci + k] + offset;
                    int xx = lo;
                    for (; xx + 8 <= hi; xx += 8) transpose8x8(src, xx, row + ci, cin);
                    for (; xx < hi; xx++)
                        for (int k = 0; k < 8; k++) row[(long)xx * cin + ci + k] = src[k][xx];
                }
#endif
            for (; ci < cin; ci++) {
                const float *src = in_planes[ci] + offset;
                for (int xx = lo; xx < hi; xx++) row[(long)xx * cin + ci] = src[xx];
            }
        }
}

static void conv_channel_tiles(int reference, const ck_conv_geometry *g, int cin, const float *const *in_planes, int cout,
                    const float *packed_weight, const float *bias, float *const *out_planes, int oz0, int oz1,
                    int oy0, int oy1, float *scratch) {
    int nz, ny, nx;
    input_block(g, oz0, oz1, oy0, oy1, &nz, &ny, &nx);
#if defined(__x86_64__)
    const int vector = !reference && has_avx2_fma();
#else
    const int vector = 0;
#endif
    gather_channels_last(vector, g, cin, in_planes, oz0, oz1, oy0, oy1, scratch);
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
                direct_tile(reference, width, taps, offsets, cin, w, base, tile);
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

// MARK: Position tiles

/// Copies the input that output rows oz0..<oz1 × oy0..<oy1 read into `block` [cin][nz][ny][nx],
/// zero where it falls outside the volume (the convolution's padding), followed by one zeroed
/// tile that position tiles at the block's end may read.
static void gather_channels_first(const ck_conv_geometry *g, int cin, const float *const *in_planes, int oz0, int oz1,
                                  int oy0, int oy1, float *block) {
    int nz, ny, nx;
    input_block(g, oz0, oz1, oy0, oy1, &nz, &ny, &nx);
    const long channel = (long)nz * ny * nx;
    const int d = g->in_size[0], h = g->in_size[1], w = g->in_size[2];
    const int z0 = oz0 * g->stride[0] - g->padding[0], y0 = oy0 * g->stride[1] - g->padding[1];
    const int x0 = -g->padding[2];
    int lo = -x0 < 0 ? 0 : (-x0 < nx ? -x0 : nx);
    int hi = w - x0 < nx ? w - x0 : nx;
    if (hi < lo) hi = lo;
    for (int ci = 0; ci < cin; ci++)
        for (int zz = 0; zz < nz; zz++)
            for (int yy = 0; yy < ny; yy++) {
                float *row = block + ci * channel + ((long)zz * ny + yy) * nx;
                int iz = z0 + zz, iy = y0 + yy;
                if (iz < 0 || iz >= d || iy < 0 || iy >= h) {
                    memset(row, 0, sizeof(float) * (size_t)nx);
                    continue;
                }
                if (lo > 0) memset(row, 0, sizeof(float) * (size_t)lo);
                memcpy(row + lo, in_planes[ci] + ((long)iz * h + iy) * w + x0 + lo, sizeof(float) * (size_t)(hi - lo));
                if (hi < nx) memset(row + hi, 0, sizeof(float) * (size_t)(nx - hi));
            }
    memset(block + cin * channel, 0, sizeof(float) * POSITION_TILE_MAX);
}

/// One position tile: `r` output channels × `n` consecutive positions of the flattened block
/// (row after row, the block's padding columns included and later discarded), each one fused
/// multiply-add chain over (input channel, tap) from 0 — the same chain as a channel tile, so
/// both give the same bits. `x` is the tile's first position in channel 0 of the channels-first
/// block (`channel` floats per channel); `offsets[t]` is tap t's displacement within a channel.
/// Results go to `tile` [r][POSITION_TILE_MAX].
static void position_tile_scalar(int r, int n, int taps, const int *offsets, int cin, long channel, const float *w,
                                 const float *x, float *tile) {
    for (int q = 0; q < r; q++)
        for (int j = 0; j < n; j++) {
            float acc = 0.0f;
            for (int ci = 0; ci < cin; ci++)
                for (int t = 0; t < taps; t++)
                    acc = fmaf(w[((long)ci * taps + t) * r + q], x[ci * channel + offsets[t] + j], acc);
            tile[q * POSITION_TILE_MAX + j] = acc;
        }
}

#if defined(__x86_64__)
/// The vector twin of `position_tile_scalar` for n = 8·v. With `dest` (the tile lies inside one
/// output row) it stores straight to dest[q] (plus bias[q] when there is a bias), else to `tile`.
__attribute__((target("avx2,fma"), always_inline)) static inline void
position_tile_vector(const int r, const int v, int taps, const int *offsets, int cin, long channel, const float *w,
                     const float *x, float *const *dest, const float *bias, float *tile) {
    __m256 acc[12];
    for (int i = 0; i < r * v; i++) acc[i] = _mm256_setzero_ps();
    for (int ci = 0; ci < cin; ci++) {
        const float *xc = x + ci * channel;
        for (int t = 0; t < taps; t++) {
            const float *xt = xc + offsets[t];
            __m256 in[8];
            for (int j = 0; j < v; j++) in[j] = _mm256_loadu_ps(xt + 8 * j);
            for (int q = 0; q < r; q++) {
                __m256 wq = _mm256_broadcast_ss(w + q);
                for (int j = 0; j < v; j++) acc[q * v + j] = _mm256_fmadd_ps(wq, in[j], acc[q * v + j]);
            }
            w += r;
        }
    }
    for (int q = 0; q < r; q++) {
        if (dest && bias) {
            __m256 b = _mm256_broadcast_ss(bias + q);
            for (int j = 0; j < v; j++) _mm256_storeu_ps(dest[q] + 8 * j, _mm256_add_ps(acc[q * v + j], b));
        } else if (dest) {
            for (int j = 0; j < v; j++) _mm256_storeu_ps(dest[q] + 8 * j, acc[q * v + j]);
        } else {
            for (int j = 0; j < v; j++) _mm256_storeu_ps(tile + q * POSITION_TILE_MAX + 8 * j, acc[q * v + j]);
        }
    }
}

#define POSITION_TILE(R, V)                                                                                       \
    __attribute__((target("avx2,fma"))) static void position_tile##R(int taps, const int *offsets, int cin,       \
                                                                      long channel, const float *w, const float *x, \
                                                                      float *const *dest, const float *bias,        \
                                                                      float *tile) {                                \
        position_tile_vector(R, V, taps, offsets, cin, channel, w, x, dest, bias, tile);                          \
    }
POSITION_TILE(1, 8)
POSITION_TILE(2, 4)
POSITION_TILE(3, 3)
POSITION_TILE(4, 2)
#undef POSITION_TILE
#endif

/// Position-tile path (stride 1 within planes): vectors run over consecutive output positions,
/// so a layer with few output channels, one input channel or a 1×1×1 kernel keeps every lane
/// busy; the gather is a row copy.
static void conv_position_tiles(const ck_conv_geometry *g, int cin, const float *const *in_planes, int cout,
                                const float *packed_weight, const float *bias, float *const *out_planes, int oz0,
                                int oz1, int oy0, int oy1, float *scratch) {
    int nz, ny, nx;
    input_block(g, oz0, oz1, oy0, oy1, &nz, &ny, &nx);
    gather_channels_first(g, cin, in_planes, oz0, oz1, oy0, oy1, scratch);
    const long channel = (long)nz * ny * nx;
    const int kd = g->kernel[0], kh = g->kernel[1], kw = g->kernel[2];
    const int taps = kd * kh * kw;
    const int ow = g->out_size[2], sz = g->stride[0];
    const int dh = g->dest_size[1], dw = g->dest_size[2], step = g->dest_stride[2];
    int offsets[taps];
    for (int a = 0, t = 0; a < kd; a++)
        for (int b = 0; b < kh; b++)
            for (int c = 0; c < kw; c++, t++) offsets[t] = (int)(((long)a * ny + b) * nx + c);
    // Flattened positions y·nx + x of one plane's rows, up to the last valid one.
    const long span = (long)(oy1 - oy0 - 1) * nx + ow;
    float tile[POSITION_GROUP * POSITION_TILE_MAX];
#if defined(__x86_64__)
    const int vector = has_avx2_fma();
#else
    const int vector = 0;
#endif
    for (int oz = oz0; oz < oz1; oz++) {
        const float *plane = scratch + (long)(oz - oz0) * sz * ny * nx;
        const long destPlane = (long)(oz * g->dest_stride[0] + g->dest_offset[0]) * dh;
        const float *w = packed_weight;
        for (int b = 0, first = 0; b < group_count(CK_POSITION_TILES, cout); b++) {
            const int r = group_width(CK_POSITION_TILES, cout, b), n = 8 * position_vectors(r);
            const float *groupBias = bias ? bias + first : NULL;
            for (long p0 = 0; p0 < span; p0 += n) {
                int y = (int)(p0 / nx), x = (int)(p0 % nx);
                const float *source = plane + p0;
                float *dest[POSITION_GROUP];
                const int direct = vector && step == 1 && x + n <= ow;
                if (direct) {
                    long d = (destPlane + (long)(oy0 + y) * g->dest_stride[1] + g->dest_offset[1]) * dw + x
                             + g->dest_offset[2];
                    for (int q = 0; q < r; q++) dest[q] = out_planes[first + q] + d;
                }
#if defined(__x86_64__)
                if (vector) {
                    float *const *to = direct ? dest : NULL;
                    switch (r) {
                    case 1: position_tile1(taps, offsets, cin, channel, w, source, to, groupBias, tile); break;
                    case 2: position_tile2(taps, offsets, cin, channel, w, source, to, groupBias, tile); break;
                    case 3: position_tile3(taps, offsets, cin, channel, w, source, to, groupBias, tile); break;
                    default: position_tile4(taps, offsets, cin, channel, w, source, to, groupBias, tile); break;
                    }
                } else
#endif
                    position_tile_scalar(r, n, taps, offsets, cin, channel, w, source, tile);
                if (direct) continue;
                if (x + n <= ow) {
                    // Inside one row, written with the destination stride (an adjoint's residue class).
                    long d = (destPlane + (long)(oy0 + y) * g->dest_stride[1] + g->dest_offset[1]) * dw
                             + (long)x * step + g->dest_offset[2];
                    for (int q = 0; q < r; q++) {
                        float *out = out_planes[first + q] + d;
                        const float *values = tile + q * POSITION_TILE_MAX;
                        if (groupBias) {
                            for (int j = 0; j < n; j++) out[(long)j * step] = values[j] + groupBias[q];
                        } else {
                            for (int j = 0; j < n; j++) out[(long)j * step] = values[j];
                        }
                    }
                    continue;
                }
                // Scatter the valid positions: inside the span and left of the padding columns.
                for (int j = 0; j < n && p0 + j < span; j++, x++) {
                    if (x == nx) { x = 0; y++; }
                    if (x >= ow) continue;
                    long d = (destPlane + (long)(oy0 + y) * g->dest_stride[1] + g->dest_offset[1]) * dw
                             + (long)x * step + g->dest_offset[2];
                    for (int q = 0; q < r; q++) {
                        float value = tile[q * POSITION_TILE_MAX + j];
                        out_planes[first + q][d] = groupBias ? value + groupBias[q] : value;
                    }
                }
            }
            w += (long)r * cin * taps;
            first += r;
        }
    }
}

void ck_conv_direct(int path, const ck_conv_geometry *g, int cin, const float *const *in_planes, int cout,
                    const float *packed_weight, const float *bias, float *const *out_planes, int oz0, int oz1,
                    int oy0, int oy1, float *scratch) {
    if (path == CK_POSITION_TILES)
        conv_position_tiles(g, cin, in_planes, cout, packed_weight, bias, out_planes, oz0, oz1, oy0, oy1, scratch);
    else
        conv_channel_tiles(path == CK_SCALAR_REFERENCE, g, cin, in_planes, cout, packed_weight, bias, out_planes, oz0,
                           oz1, oy0, oy1, scratch);
}


// MARK: Window-attention softmax

/// Lanes per vector, and the exp's constants (Cephes `expf`): e^x = 2^n · e^r with
/// n = round(x·log₂e) and r = x − n·ln 2 in two parts (Cody–Waite), so |r| ≤ ln 2 / 2, then a
/// degree-7 polynomial in r. Below EXP_FLOOR the result would be subnormal (e^x < 2^-126): it is 0.
enum { LANES = 8 };
static const float EXP_FLOOR = -87.33654f;
static const float LOG2E = 1.44269504088896341f, LN2_HI = 0.693359375f, LN2_LO = -2.12194440e-4f;
static const float EXP_P0 = 1.9875691500e-4f, EXP_P1 = 1.3981999507e-3f, EXP_P2 = 8.3334519073e-3f,
                   EXP_P3 = 4.1665795894e-2f, EXP_P4 = 1.6666665459e-1f, EXP_P5 = 5.0000001201e-1f;

/// e^x for x ≤ 0, the scalar twin of `exp_vector`: the same operations in the same order, so
/// both give the same bits.
static float exp_scalar(float x) {
    if (x != x) return x;
    if (x < EXP_FLOOR) return 0.0f;
    const float n = nearbyintf(x * LOG2E);
    float r = fmaf(n, -LN2_HI, x);
    r = fmaf(n, -LN2_LO, r);
    float y = fmaf(EXP_P0, r, EXP_P1);
    y = fmaf(y, r, EXP_P2);
    y = fmaf(y, r, EXP_P3);
    y = fmaf(y, r, EXP_P4);
    y = fmaf(y, r, EXP_P5);
    y = fmaf(y, r * r, r);
    y = y + 1.0f;
    union { int i; float f; } scale = { .i = ((int)n + 127) << 23 };
    return y * scale.f;
}

/// Lane sums reduced in a fixed tree, ((l0 + l4) + (l2 + l6)) + ((l1 + l5) + (l3 + l7)), the
/// order `horizontal_sum` adds a vector's lanes in.
static float lane_sum(const float *l) {
    return ((l[0] + l[4]) + (l[2] + l[6])) + ((l[1] + l[5]) + (l[3] + l[7]));
}

/// The bias, mask and softmax of one row, scalar: lane sums as the vector path keeps them.
static void softmax_row_scalar(float *row, const float *bias, const int *regions, int region, float mask, int n) {
    float m = -INFINITY;
    for (int t = 0; t < n; t++) {
        float x = row[t] + bias[t];
        if (regions) x += regions[t] != region ? mask : 0.0f;
        row[t] = x;
        m = x > m ? x : m;
    }
    float lanes[LANES] = { 0 };
    for (int t = 0; t < n; t++) {
        const float e = exp_scalar(row[t] - m);
        row[t] = e;
        lanes[t % LANES] += e;
    }
    const float inv = 1.0f / lane_sum(lanes);
    for (int t = 0; t < n; t++) row[t] *= inv;
}

static void softmax_backward_row_scalar(const float *p, float *dp, int n) {
    float lanes[LANES] = { 0 };
    for (int t = 0; t < n; t++) lanes[t % LANES] = fmaf(p[t], dp[t], lanes[t % LANES]);
    const float dot = lane_sum(lanes);
    for (int t = 0; t < n; t++) dp[t] = p[t] * (dp[t] - dot);
}

#if defined(__x86_64__)
/// Lanes below `count` (0…8) set: the tail of a row, loaded and stored through it so every
/// element takes the same vector code.
__attribute__((target("avx2"))) static __m256i lane_mask(int count) {
    const __m256i index = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(count), index);
}

__attribute__((target("avx2"))) static float horizontal_sum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    return _mm_cvtss_f32(_mm_add_ss(s, _mm_shuffle_ps(s, s, 1)));
}

__attribute__((target("avx2"))) static float horizontal_max(__m256 v) {
    __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_max_ps(s, _mm_movehl_ps(s, s));
    return _mm_cvtss_f32(_mm_max_ss(s, _mm_shuffle_ps(s, s, 1)));
}

/// `exp_scalar` on eight lanes.
__attribute__((target("avx2,fma"), always_inline)) static inline __m256 exp_vector(__m256 x) {
    const __m256 lowest = _mm256_set1_ps(EXP_FLOOR);
    const __m256 below = _mm256_cmp_ps(x, lowest, _CMP_LT_OQ);
    // max(lowest, x) returns x when x is NaN, so NaN stays NaN.
    const __m256 c = _mm256_max_ps(lowest, x);
    const __m256 n = _mm256_round_ps(_mm256_mul_ps(c, _mm256_set1_ps(LOG2E)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fmadd_ps(n, _mm256_set1_ps(-LN2_HI), c);
    r = _mm256_fmadd_ps(n, _mm256_set1_ps(-LN2_LO), r);
    __m256 y = _mm256_fmadd_ps(_mm256_set1_ps(EXP_P0), r, _mm256_set1_ps(EXP_P1));
    y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(EXP_P2));
    y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(EXP_P3));
    y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(EXP_P4));
    y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(EXP_P5));
    y = _mm256_fmadd_ps(y, _mm256_mul_ps(r, r), r);
    y = _mm256_add_ps(y, _mm256_set1_ps(1.0f));
    const __m256i bits = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_andnot_ps(below, _mm256_mul_ps(y, _mm256_castsi256_ps(bits)));
}

/// The `count` (≥ 1) floats at p on eight lanes, zeros past them: plain loads and stores for
/// whole vectors, masked ones (slow on some cores) for a row's tail only.
__attribute__((target("avx2"), always_inline)) static inline __m256 load_lanes(const float *p, int count) {
    return count >= LANES ? _mm256_loadu_ps(p) : _mm256_maskload_ps(p, lane_mask(count));
}

__attribute__((target("avx2"), always_inline)) static inline void store_lanes(float *p, int count, __m256 v) {
    if (count >= LANES) _mm256_storeu_ps(p, v);
    else _mm256_maskstore_ps(p, lane_mask(count), v);
}

__attribute__((target("avx2,fma"))) static void softmax_row_vector(float *row, const float *bias, const int *regions,
                                                                   int region, float mask, int n) {
    const __m256 maskValue = _mm256_set1_ps(mask), lowest = _mm256_set1_ps(-INFINITY);
    const __m256i own = _mm256_set1_epi32(region);
    __m256 m = lowest;
    for (int t = 0; t < n; t += LANES) {
        const int count = n - t;
        __m256 x = _mm256_add_ps(load_lanes(row + t, count), load_lanes(bias + t, count));
        if (regions) {
            const __m256i labels = count >= LANES ? _mm256_loadu_si256((const __m256i *)(regions + t))
                                                  : _mm256_maskload_epi32(regions + t, lane_mask(count));
            const __m256i same = _mm256_cmpeq_epi32(labels, own);
            x = _mm256_add_ps(x, _mm256_andnot_ps(_mm256_castsi256_ps(same), maskValue));
        }
        store_lanes(row + t, count, x);
        m = _mm256_max_ps(m, count >= LANES ? x : _mm256_blendv_ps(lowest, x, _mm256_castsi256_ps(lane_mask(count))));
    }
    const __m256 max = _mm256_set1_ps(horizontal_max(m));
    __m256 total = _mm256_setzero_ps();
    for (int t = 0; t < n; t += LANES) {
        const int count = n - t;
        __m256 e = exp_vector(_mm256_sub_ps(load_lanes(row + t, count), max));
        if (count < LANES) e = _mm256_and_ps(e, _mm256_castsi256_ps(lane_mask(count)));
        store_lanes(row + t, count, e);
        total = _mm256_add_ps(total, e);
    }
    const __m256 inv = _mm256_set1_ps(1.0f / horizontal_sum(total));
    for (int t = 0; t < n; t += LANES) store_lanes(row + t, n - t, _mm256_mul_ps(load_lanes(row + t, n - t), inv));
}

__attribute__((target("avx2,fma"))) static void softmax_backward_row_vector(const float *p, float *dp, int n) {
    __m256 acc = _mm256_setzero_ps();
    for (int t = 0; t < n; t += LANES) acc = _mm256_fmadd_ps(load_lanes(p + t, n - t), load_lanes(dp + t, n - t), acc);
    const __m256 dot = _mm256_set1_ps(horizontal_sum(acc));
    for (int t = 0; t < n; t += LANES)
        store_lanes(dp + t, n - t, _mm256_mul_ps(load_lanes(p + t, n - t), _mm256_sub_ps(load_lanes(dp + t, n - t), dot)));
}

__attribute__((target("avx2,fma"))) static void exp_array_vector(const float *x, float *y, long count) {
    for (long i = 0; i < count; i += LANES) {
        const int lanes = count - i < LANES ? (int)(count - i) : LANES;
        store_lanes(y + i, lanes, exp_vector(load_lanes(x + i, lanes)));
    }
}
#endif

static int use_vector(int reference) {
#if defined(__x86_64__)
    return !reference && has_avx2_fma();
#else
    (void)reference;
    return 0;
#endif
}

void ck_exp_nonpositive(int reference, const float *x, float *y, long count) {
#if defined(__x86_64__)
    if (use_vector(reference)) { exp_array_vector(x, y, count); return; }
#endif
    for (long i = 0; i < count; i++) y[i] = exp_scalar(x[i]);
}

void ck_attention_softmax(int reference, float *p, const float *bias, const int *regions, float mask, int n) {
    const int vector = use_vector(reference);
    for (int i = 0; i < n; i++) {
        float *row = p + (long)i * n;
        const float *b = bias + (long)i * n;
        const int region = regions ? regions[i] : 0;
#if defined(__x86_64__)
        if (vector) { softmax_row_vector(row, b, regions, region, mask, n); continue; }
#endif
        softmax_row_scalar(row, b, regions, region, mask, n);
    }
    (void)vector;
}

void ck_softmax_backward(int reference, const float *p, float *dp, int n) {
    const int vector = use_vector(reference);
    for (int i = 0; i < n; i++) {
#if defined(__x86_64__)
        if (vector) { softmax_backward_row_vector(p + (long)i * n, dp + (long)i * n, n); continue; }
#endif
        softmax_backward_row_scalar(p + (long)i * n, dp + (long)i * n, n);
    }
    (void)vector;
}
