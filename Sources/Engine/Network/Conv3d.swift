import CKernels
import Foundation

/// Kernel size, stride and zero padding of a 3-D convolution, per spatial axis (D, H, W).
public struct ConvGeometry: Sendable, Equatable {
    public var kernel: [Int]
    public var stride: [Int]
    public var padding: [Int]

    public init(kernel: [Int], stride: [Int] = [1, 1, 1], padding: [Int] = [0, 0, 0]) {
        precondition(kernel.count == 3 && stride.count == 3 && padding.count == 3, "3-D geometry")
        self.kernel = kernel
        self.stride = stride
        self.padding = padding
    }

    /// Number of weights per (output, input) channel pair.
    public var kernelVolume: Int { kernel[0] * kernel[1] * kernel[2] }

    /// Output spatial size of the convolution: ⌊(n + 2p − k) / s⌋ + 1 per axis.
    public func outputSize(_ input: [Int]) -> [Int] {
        (0..<3).map { (input[$0] + 2 * padding[$0] - kernel[$0]) / stride[$0] + 1 }
    }

    /// Output spatial size of the transposed convolution: (n − 1)·s − 2p + k per axis.
    public func transposedOutputSize(_ input: [Int]) -> [Int] {
        (0..<3).map { (input[$0] - 1) * stride[$0] - 2 * padding[$0] + kernel[$0] }
    }

}

/// What every worker of the direct path reads: plain pointers into buffers the caller keeps alive
/// for the call.
private struct SharedDirectArguments: @unchecked Sendable {
    var geometry: ck_conv_geometry
    var inputPlanes: [UnsafePointer<Float>?]
    var outputPlanes: [UnsafeMutablePointer<Float>?]
    var weight: SharedPointer<Float>
    var bias: SharedPointer<Float>?
}

/// A contiguous run of channels of one [C, D, H, W] buffer. Convolutions read their input from a
/// list of these, which is a channel concatenation that is never materialised (UNet skip joins),
/// and write their output into a list of them (the backward pass splits the gradient the same way).
struct ChannelSlab {
    var pointer: UnsafeMutablePointer<Float>
    var channels: Int
}

/// 3-D convolution, PyTorch `Conv3d` semantics (cross-correlation, zero padding, no dilation,
/// one group).
///
/// Shapes: input x [Cin, D, H, W] → output y [Cout, D', H', W'] with D' = ⌊(D + 2p − k)/s⌋ + 1.
/// Weight [Cout, Cin, kD, kH, kW] (PyTorch layout), bias [Cout].
///
/// The forward pass is the direct kernel (`ck_conv_direct`): per chunk of output rows the input is
/// gathered into a zero-padded channels-last block, and register tiles of 6 positions × 16 output
/// channels accumulate straight from it. It is translation-exact: every output is one fused
/// multiply-add chain over (input channel, tap) in a fixed order, so identical receptive fields
/// give identical bits at any position, in any chunk, on any worker. The backward pass to the input
/// of a stride-1 convolution is itself a stride-1 convolution of the output gradient with the
/// spatially flipped, channel-transposed kernel, so it runs the same kernel; strided ones use the
/// product Wᵀ·dy (`ck_gemm_exact`) + col2vol.
public struct Conv3d: Sendable {
    public let inChannels: Int
    public let outChannels: Int
    public let geometry: ConvGeometry
    /// [Cout, Cin, kD, kH, kW].
    public let weight: [Float]
    /// [Cout], or nil for `bias=False`.
    public let bias: [Float]?
    /// Upper bound on the column buffer of the strided backward pass: small enough to stay in the
    /// last-level cache while the product fills it.
    static let columnBudgetBytes = 4 << 20

    public init(inChannels: Int, outChannels: Int, geometry: ConvGeometry, weight: [Float], bias: [Float]?) {
        precondition(weight.count == outChannels * inChannels * geometry.kernelVolume, "weight size")
        precondition(bias == nil || bias!.count == outChannels, "bias size")
        self.inChannels = inChannels
        self.outChannels = outChannels
        self.geometry = geometry
        self.weight = weight
        self.bias = bias
    }

    /// Output shape [Cout, D', H', W'] for an input shape [Cin, D, H, W].
    public func outputShape(_ input: [Int]) -> [Int] {
        [outChannels] + geometry.outputSize(Array(input[1...]))
    }

    // MARK: Public tensor API

    /// y = conv(x) + b.  x [Cin, D, H, W] → y [Cout, D', H', W'].
    public func forward(_ x: Tensor) -> Tensor {
        precondition(x.shape.count == 4 && x.shape[0] == inChannels, "Conv3d input must be [Cin, D, H, W]")
        var x = x
        var y = Tensor(zeros: outputShape(x.shape))
        let inSize = Array(x.shape[1...])
        x.data.withUnsafeMutableBufferPointer { xp in
            y.data.withUnsafeMutableBufferPointer { yp in
                forward(inputs: [ChannelSlab(pointer: xp.baseAddress!, channels: inChannels)], inputSize: inSize,
                        outputs: [ChannelSlab(pointer: yp.baseAddress!, channels: outChannels)])
            }
        }
        return y
    }

    /// ∂L/∂x from ∂L/∂y.  dy [Cout, D', H', W'] → dx [Cin, D, H, W] (`inputShape`).
    public func backwardInput(_ dy: Tensor, inputShape: [Int]) -> Tensor {
        precondition(dy.shape == outputShape(inputShape), "Conv3d output gradient shape")
        var dy = dy
        var dx = Tensor(zeros: inputShape)
        dy.data.withUnsafeMutableBufferPointer { gp in
            dx.data.withUnsafeMutableBufferPointer { xp in
                backwardInput(outputGradient: gp.baseAddress!, inputSize: Array(inputShape[1...]),
                              inputGradients: [ChannelSlab(pointer: xp.baseAddress!, channels: inChannels)])
            }
        }
        return dx
    }

    /// Direct seven-loop reference of `forward`.
    public func forwardNaive(_ x: Tensor) -> Tensor {
        let inSize = Array(x.shape[1...])
        let outShape = outputShape(x.shape)
        let (k, s, p) = (geometry.kernel, geometry.stride, geometry.padding)
        var y = Tensor(zeros: outShape)
        for co in 0..<outChannels {
            for z in 0..<outShape[1] {
                for yy in 0..<outShape[2] {
                    for xx in 0..<outShape[3] {
                        var acc = bias?[co] ?? 0
                        for ci in 0..<inChannels {
                            for a in 0..<k[0] {
                                let iz = z * s[0] + a - p[0]
                                if iz < 0 || iz >= inSize[0] { continue }
                                for b in 0..<k[1] {
                                    let iy = yy * s[1] + b - p[1]
                                    if iy < 0 || iy >= inSize[1] { continue }
                                    for c in 0..<k[2] {
                                        let ix = xx * s[2] + c - p[2]
                                        if ix < 0 || ix >= inSize[2] { continue }
                                        let w = weight[(((co * inChannels + ci) * k[0] + a) * k[1] + b) * k[2] + c]
                                        acc += w * x.data[((ci * inSize[0] + iz) * inSize[1] + iy) * inSize[2] + ix]
                                    }
                                }
                            }
                        }
                        y.data[((co * outShape[1] + z) * outShape[2] + yy) * outShape[3] + xx] = acc
                    }
                }
            }
        }
        return y
    }

    /// Direct scatter reference of `backwardInput`.
    public func backwardInputNaive(_ dy: Tensor, inputShape: [Int]) -> Tensor {
        let inSize = Array(inputShape[1...])
        let outShape = dy.shape
        let (k, s, p) = (geometry.kernel, geometry.stride, geometry.padding)
        var dx = Tensor(zeros: inputShape)
        for co in 0..<outChannels {
            for z in 0..<outShape[1] {
                for yy in 0..<outShape[2] {
                    for xx in 0..<outShape[3] {
                        let g = dy.data[((co * outShape[1] + z) * outShape[2] + yy) * outShape[3] + xx]
                        for ci in 0..<inChannels {
                            for a in 0..<k[0] {
                                let iz = z * s[0] + a - p[0]
                                if iz < 0 || iz >= inSize[0] { continue }
                                for b in 0..<k[1] {
                                    let iy = yy * s[1] + b - p[1]
                                    if iy < 0 || iy >= inSize[1] { continue }
                                    for c in 0..<k[2] {
                                        let ix = xx * s[2] + c - p[2]
                                        if ix < 0 || ix >= inSize[2] { continue }
                                        let w = weight[(((co * inChannels + ci) * k[0] + a) * k[1] + b) * k[2] + c]
                                        dx.data[((ci * inSize[0] + iz) * inSize[1] + iy) * inSize[2] + ix] += w * g
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        return dx
    }

    // MARK: Raw fast paths

    /// Forward pass over channel slabs: the inputs are concatenated along channels (their channel
    /// counts sum to Cin) and the Cout output channels are split over `outputs` in order.
    /// Bias is added when present.
    func forward(inputs: [ChannelSlab], inputSize: [Int], outputs: [ChannelSlab]) {
        weight.withUnsafeBufferPointer { w in
            if let bias {
                bias.withUnsafeBufferPointer { b in
                    Conv3d.correlate(inputs: inputs, inputSize: inputSize, outputs: outputs,
                                     weight: w.baseAddress!, bias: b.baseAddress!, cin: inChannels,
                                     cout: outChannels, geometry: geometry)
                }
            } else {
                Conv3d.correlate(inputs: inputs, inputSize: inputSize, outputs: outputs,
                                 weight: w.baseAddress!, bias: nil, cin: inChannels, cout: outChannels,
                                 geometry: geometry)
            }
        }
    }

    /// Backward pass to the input: `outputGradient` [Cout, D', H', W'] → the input gradient,
    /// overwritten (not accumulated) into `inputGradients`, split along channels like `inputs`.
    func backwardInput(outputGradient: UnsafeMutablePointer<Float>, inputSize: [Int],
                       inputGradients: [ChannelSlab]) {
        let outSize = geometry.outputSize(inputSize)
        let g = geometry
        let adjointPadding = (0..<3).map { g.kernel[$0] - 1 - g.padding[$0] }
        // Stride 1: the adjoint is a convolution too (the direct kernel); otherwise product + col2vol.
        if g.stride == [1, 1, 1] && adjointPadding.allSatisfy({ $0 >= 0 }) {
            let adjoint = ConvGeometry(kernel: g.kernel, stride: [1, 1, 1], padding: adjointPadding)
            flippedWeight().withUnsafeBufferPointer { w in
                Conv3d.correlate(inputs: [ChannelSlab(pointer: outputGradient, channels: outChannels)],
                                 inputSize: outSize, outputs: inputGradients, weight: w.baseAddress!,
                                 bias: nil, cin: outChannels, cout: inChannels, geometry: adjoint)
            }
        } else {
            weight.withUnsafeBufferPointer { w in
                Conv3d.scatterAdjoint(outputGradient: outputGradient, outputSize: outSize,
                                      inputGradients: inputGradients, inputSize: inputSize,
                                      weight: w.baseAddress!, cin: inChannels, cout: outChannels,
                                      geometry: g)
            }
        }
    }

    /// [Cin, Cout, kD, kH, kW] with every kernel reversed: the weight of the adjoint convolution.
    /// Built per call (it costs one pass over the weights) so that a module tree holds each
    /// weight once.
    private func flippedWeight() -> [Float] {
        let kv = geometry.kernelVolume
        var flipped = [Float](repeating: 0, count: weight.count)
        for co in 0..<outChannels {
            for ci in 0..<inChannels {
                for t in 0..<kv {
                    flipped[(ci * outChannels + co) * kv + (kv - 1 - t)] = weight[(co * inChannels + ci) * kv + t]
                }
            }
        }
        return flipped
    }

    /// Upper bound on one worker's channels-last input block in the direct path.
    static let directBlockBudgetBytes = 16 << 20

    /// Correlation y = W ⋆ x (+ b) by `ck_conv_direct`: each chunk of output rows gathers the input
    /// it reads into a zero-padded channels-last block, then register tiles of 6 positions × 16
    /// output channels run one fused multiply-add chain per output over (input channel, tap).
    /// Nothing is packed per column, so the work is nearly all multiply-adds even at 16 channels.
    /// Chunks are spread over the workers.
    static func correlate(inputs: [ChannelSlab], inputSize: [Int], outputs: [ChannelSlab],
                          weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
                          cin: Int, cout: Int, geometry g: ConvGeometry) {
        precondition(inputs.reduce(0) { $0 + $1.channels } == cin, "input channels")
        precondition(outputs.reduce(0) { $0 + $1.channels } == cout, "output channels")
        let outSize = g.outputSize(inputSize)
        guard outSize.allSatisfy({ $0 > 0 }) else { return }
        let taps = g.kernelVolume
        func triple(_ v: [Int]) -> (Int32, Int32, Int32) { (Int32(v[0]), Int32(v[1]), Int32(v[2])) }
        var geometry = ck_conv_geometry(in_size: triple(inputSize), out_size: triple(outSize), kernel: triple(g.kernel),
                                        stride: triple(g.stride), padding: triple(g.padding))
        let packed = UnsafeMutablePointer<Float>.allocate(capacity: ck_direct_weight_count(Int32(cout), Int32(cin),
                                                                                          Int32(taps)))
        defer { packed.deallocate() }
        ck_direct_pack_weight(Int32(cout), Int32(cin), Int32(taps), weight, packed)
        let inPlane = inputSize.reduce(1, *), outPlane = outSize.reduce(1, *)
        let inputPlanes: [UnsafePointer<Float>?] = inputs.flatMap { slab in
            (0..<slab.channels).map { UnsafePointer(slab.pointer + $0 * inPlane) }
        }
        let outputPlanes: [UnsafeMutablePointer<Float>?] = outputs.flatMap { slab in
            (0..<slab.channels).map { slab.pointer + $0 * outPlane }
        }
        // Chunks of whole planes when there are enough of them, else of rows within a plane: at
        // least four per worker for balance, each block within the budget.
        let (depth, height) = (outSize[0], outSize[1])
        let target = 4 * Parallel.workerCount
        var planes = 1, rows = height
        if depth >= target {
            planes = (depth + target - 1) / target
            while planes > 1 && ck_direct_scratch_count(&geometry, Int32(cin), Int32(planes), Int32(height)) * 4
                > directBlockBudgetBytes { planes -= 1 }
        } else {
            let splits = (target + depth - 1) / depth
            rows = (height + splits - 1) / splits
        }
        while rows > 1 && ck_direct_scratch_count(&geometry, Int32(cin), 1, Int32(rows)) * 4 > directBlockBudgetBytes {
            rows -= 1
        }
        let (chunkPlanes, chunkRows) = (planes, rows)
        let zChunks = (depth + planes - 1) / planes, yChunks = (height + rows - 1) / rows
        let scratchCount = ck_direct_scratch_count(&geometry, Int32(cin), Int32(planes), Int32(rows))
        let shared = SharedDirectArguments(geometry: geometry, inputPlanes: inputPlanes, outputPlanes: outputPlanes,
                                           weight: SharedPointer(packed),
                                           bias: bias.map { SharedPointer(UnsafeMutablePointer(mutating: $0)) })
        Parallel.forEachBlock(zChunks * yChunks) { chunks in
            let scratch = UnsafeMutablePointer<Float>.allocate(capacity: scratchCount)
            defer { scratch.deallocate() }
            var geometry = shared.geometry
            for c in chunks {
                let z0 = (c / yChunks) * chunkPlanes, y0 = (c % yChunks) * chunkRows
                shared.inputPlanes.withUnsafeBufferPointer { inp in
                    shared.outputPlanes.withUnsafeBufferPointer { outp in
                        ck_conv_direct(&geometry, Int32(cin), inp.baseAddress!, Int32(cout), shared.weight.base,
                                       shared.bias?.base, outp.baseAddress!, Int32(z0), Int32(min(z0 + chunkPlanes, depth)),
                                       Int32(y0), Int32(min(y0 + chunkRows, height)), scratch)
                    }
                }
            }
        }
    }

    /// Input gradient for any stride: per column chunk, dcol = Wᵀ·dy (sgemm, columns split over
    /// the workers), then col2vol adds dcol into the input gradient (input channels split over the
    /// workers, so no two workers touch the same voxel). Chunks run in order because neighbouring
    /// chunks can add into the same input voxels when the kernel is larger than the stride.
    static func scatterAdjoint(outputGradient: UnsafeMutablePointer<Float>, outputSize: [Int],
                               inputGradients: [ChannelSlab], inputSize: [Int],
                               weight: UnsafePointer<Float>, cin: Int, cout: Int, geometry g: ConvGeometry) {
        let n = outputSize[0] * outputSize[1] * outputSize[2]
        let plane = inputSize[0] * inputSize[1] * inputSize[2]
        let kv = g.kernelVolume
        let kdim = cin * kv
        for slab in inputGradients { slab.pointer.update(repeating: 0, count: slab.channels * plane) }
        guard n > 0 else { return }
        // The chunk does not depend on the worker count, so neither does the order in which a voxel
        // receives its contributions; columns are exact (ck_gemm_exact), but a voxel whose outputs
        // straddle a chunk boundary adds them in another order than an interior one.
        let chunk = max(256, columnBudgetBytes * 2 / (4 * kdim))
        let columns = UnsafeMutablePointer<Float>.allocate(capacity: kdim * min(chunk, n))
        defer { columns.deallocate() }
        let channelTargets: [SharedPointer<Float>] = inputGradients.flatMap { slab in
            (0..<slab.channels).map { SharedPointer(slab.pointer + $0 * plane) }
        }
        let col = SharedPointer(columns)
        let dy = SharedPointer(outputGradient)
        // Wᵀ [Cin·k³, Cout], so that dcol = Wᵀ·dy is a plain row-major product.
        let transposed = UnsafeMutablePointer<Float>.allocate(capacity: kdim * cout)
        defer { transposed.deallocate() }
        for co in 0..<cout { for r in 0..<kdim { transposed[r * cout + co] = weight[co * kdim + r] } }
        let wt = SharedPointer(transposed)
        let (d, h, wd) = (inputSize[0], inputSize[1], inputSize[2])
        let (oh, ow) = (outputSize[1], outputSize[2])
        var n0 = 0
        while n0 < n {
            let nc = min(chunk, n - n0)
            let start = n0
            Parallel.forEachBlock(nc, minimumPerWorker: 256) { cols in
                ck_gemm_exact(Int32(kdim), Int32(cols.count), Int32(cout), wt.base, Int32(cout),
                              dy.base + start + cols.lowerBound, Int32(n), col.base + cols.lowerBound, Int32(nc))
            }
            Parallel.forEach(cin) { ci in
                let dst = channelTargets[ci].base
                let firstRow = start / ow, lastRow = (start + nc - 1) / ow
                for t in 0..<kv {
                    let a = t / (g.kernel[1] * g.kernel[2])
                    let b = (t / g.kernel[2]) % g.kernel[1]
                    let c = t % g.kernel[2]
                    let src = col.base + (ci * kv + t) * nc
                    for r in firstRow...lastRow {
                        let iz = (r / oh) * g.stride[0] + a - g.padding[0]
                        let iy = (r % oh) * g.stride[1] + b - g.padding[1]
                        if iz < 0 || iz >= d || iy < 0 || iy >= h { continue }
                        let rowStart = r * ow
                        let x0 = max(start - rowStart, 0), x1 = min(start + nc - rowStart, ow)
                        let line = dst + (iz * h + iy) * wd
                        let from = src + (rowStart - start)
                        for x in x0..<x1 {
                            let ix = x * g.stride[2] + c - g.padding[2]
                            if ix >= 0 && ix < wd { line[ix] += from[x] }
                        }
                    }
                }
            }
            n0 += nc
        }
    }
}
