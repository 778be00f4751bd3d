#ifndef CKERNELS_H
#define CKERNELS_H

#include <stddef.h>
#include "cksha256.h"

/// Geometry of a 3-D convolution: input and output grid sizes, kernel, stride and zero padding
/// per axis (D, H, W), and where the outputs land: output (z, y, x) is written at
/// (z·dest_stride + dest_offset, …) of a destination grid of dest_size (the output grid itself for
/// a plain convolution; one phase of a strided convolution's input grid for its adjoint).
typedef struct {
    int in_size[3], out_size[3], kernel[3], stride[3], padding[3];
    int dest_size[3], dest_stride[3], dest_offset[3];
} ck_conv_geometry;

/// Kernel paths of `ck_conv_direct`. All give the same bits: every output is the same fused
/// multiply-add chain. Channel tiles vectorise over 16 output channels; position tiles over
/// consecutive output positions (stride 1 within a plane; chosen for few output channels, one
/// input channel or a 1×1×1 kernel); the scalar reference is the channel-tile path in `fmaf`.
enum { CK_CHANNEL_TILES = 0, CK_POSITION_TILES = 1, CK_SCALAR_REFERENCE = 2 };

/// The path for a convolution (`reference` non-zero: the scalar reference).
int ck_direct_path(const ck_conv_geometry *g, int cin, int cout, int reference);

/// Floats of the packed weight `ck_direct_pack_weight` writes for `path`.
long ck_direct_weight_count(int path, int cout, int cin, int taps);

/// Packs W [cout, cin, taps] (PyTorch layout) into groups of output channels for `path`:
/// [group][cin][tap][width]. Channel tiles: groups of 16, the remainder in one zero-padded group
/// of 8 or 16; position tiles: groups of 4 and the remainder.
void ck_direct_pack_weight(int path, int cout, int cin, int taps, const float *w, float *packed);

/// Floats of scratch `ck_conv_direct` needs on `path` for at most `planes` × `rows` output rows.
long ck_direct_scratch_count(int path, const ck_conv_geometry *g, int cin, int planes, int rows);

/// Output rows oz0..<oz1 × oy0..<oy1 (every W position) of a convolution with zero padding:
/// out[co][z, y, x] = Σ over (ci, tap) of W[co, ci, tap] · x[ci, receptive field] (+ bias[co]),
/// written at its destination position. in_planes holds one pointer per input channel, out_planes
/// one per output channel (each a dest_size grid).
/// Every output is one fused multiply-add chain over (input channel, tap) in that order, starting
/// from 0, on every path and instruction set: it depends only on the weights and its receptive
/// field, so identical patches give identical bits at any position, in any chunk, on any worker.
void ck_conv_direct(int path, const ck_conv_geometry *g, int cin, const float *const *in_planes, int cout,
                    const float *packed_weight, const float *bias, float *const *out_planes, int oz0, int oz1,
                    int oy0, int oy1, float *scratch);

// Anonymous memory for large buffers, in whole pages (`bytes` a multiple of the page size).
// Fresh pages read as zero and cost a page fault each on first touch.

/// A mapping of `bytes`, or NULL when the system refuses.
float *ck_pages_map(size_t bytes);
/// The mapping grown to `new_bytes` (possibly moved; pages already touched stay resident), or NULL.
float *ck_pages_grow(float *pages, size_t old_bytes, size_t new_bytes);
/// Returns the pages to the system while keeping the mapping (they read as zero when touched again).
void ck_pages_discard(float *pages, size_t bytes);
void ck_pages_unmap(float *pages, size_t bytes);

// Window-attention softmax. `reference` non-zero selects the portable scalar path; it gives the
// same bits as the AVX2 path: the same exp, and sums kept in the same eight lane partials added in
// the same fixed tree, so results depend on a value's row and lane (index mod 8) only, never on
// threads or on whether it falls in a row's tail.

/// y[i] = e^x[i] for x[i] ≤ 0 (Cephes range reduction and polynomial, within 1.02 ulp over every
/// float in [−104, 0]); exactly 0 where e^x is below the smallest normal float (x < −87.33654),
/// e^0 = 1, NaN stays NaN.
void ck_exp_nonpositive(int reference, const float *x, float *y, long count);

/// In place over the n × n scores p of one window and head: p += bias (n × n); where
/// regions[i] != regions[t] (regions NULL: never) p[i][t] += mask; then each row's softmax:
/// e = exp(p − max), scaled by 1 / Σ e.
void ck_attention_softmax(int reference, float *p, const float *bias, const int *regions, float mask, int n);

/// Softmax backward over n rows of n, in place: dp = p ⊙ (dp − rowsum(p ⊙ dp)).
void ck_softmax_backward(int reference, const float *p, float *dp, int n);

#endif