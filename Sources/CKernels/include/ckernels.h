#ifndef CKERNELS_H
#define CKERNELS_H

/// Geometry of a 3-D convolution: input and output grid sizes, kernel, stride and zero padding
/// per axis (D, H, W), and where the outputs land: output (z, y, x) is written at
/// (z·dest_stride + dest_offset, …) of a destination grid of dest_size (the output grid itself for
/// a plain convolution; one phase of a strided convolution's input grid for its adjoint).
typedef struct {
    int in_size[3], out_size[3], kernel[3], stride[3], padding[3];
    int dest_size[3], dest_stride[3], dest_offset[3];
} ck_conv_geometry;

/// Floats of the packed weight `ck_direct_pack_weight` writes.
long ck_direct_weight_count(int cout, int cin, int taps);

/// Packs W [cout, cin, taps] (PyTorch layout) into output-channel blocks of 16, the remainder in
/// one zero-padded block of 8 or 16: [block][cin][tap][width].
void ck_direct_pack_weight(int cout, int cin, int taps, const float *w, float *packed);

/// Floats of scratch `ck_conv_direct` needs for at most `planes` × `rows` output rows.
long ck_direct_scratch_count(const ck_conv_geometry *g, int cin, int planes, int rows);

/// Output rows oz0..<oz1 × oy0..<oy1 (every W position) of a convolution with zero padding:
/// out[co][z, y, x] = Σ over (ci, tap) of W[co, ci, tap] · x[ci, receptive field] (+ bias[co]),
/// written at its destination position. in_planes holds one pointer per input channel, out_planes
/// one per output channel (each a dest_size grid).
/// Every output is one fused multiply-add chain over (input channel, tap) in that order, starting
/// from 0, on every instruction set (the order of `ck_gemm_exact` on vol2col columns): it depends only on the weights and its receptive field, so
/// identical patches give identical bits at any position, in any chunk, on any worker.
void ck_conv_direct(const ck_conv_geometry *g, int cin, const float *const *in_planes, int cout,
                    const float *packed_weight, const float *bias, float *const *out_planes, int oz0, int oz1,
                    int oy0, int oy1, float *scratch);

#endif