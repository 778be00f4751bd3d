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

extension Tensor {
    /// A tensor of `shape` that `write` fills completely: no zero-fill the kernel would overwrite.
    /// The kernels only read their inputs, so callers pass read-only buffers as mutable pointers
    /// rather than copying a shared array.
    static func overwritten(shape: [Int], _ write: (UnsafeMutablePointer<Float>) -> Void) -> Tensor {
        let count = shape.reduce(1, *)
        guard count > 0 else { return Tensor(zeros: shape) }
        let data = [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
            write(buffer.baseAddress!)
            initialized = count
        }
        return Tensor(shape: shape, data: data)
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
/// gathered into a zero-padded block, and register tiles (6 positions × 16 output channels, or
/// 8–64 consecutive positions × 1–4 channels for narrow layers) accumulate straight from it. It is
/// translation-exact: every output is one fused multiply-add chain over (input channel, tap) in
/// a fixed order, so identical receptive fields give identical bits at any position, in any chunk,
/// on any worker. The backward pass to the input is the adjoint, split by residue class of the
/// input grid (`AdjointPhase`): each class is a stride-1 convolution of the output gradient with a
/// flipped, channel-transposed sub-kernel, run by the same kernel and written back with the stride
/// (at stride 1, one class: the flipped kernel; with kernel = stride, all classes in one pass).
/// It is translation-exact within each class.
public struct Conv3d: Sendable {
    public let inChannels: Int
    public let outChannels: Int
    public let geometry: ConvGeometry
    /// [Cout, Cin, kD, kH, kW].
    public let weight: [Float]
    /// [Cout], or nil for `bias=False`.
    public let bias: [Float]?

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
    public func forward(_ x: Tensor) -> Tensor { forward(x, reference: false) }

    /// ∂L/∂x from ∂L/∂y.  dy [Cout, D', H', W'] → dx [Cin, D, H, W] (`inputShape`).
    public func backwardInput(_ dy: Tensor, inputShape: [Int]) -> Tensor {
        backwardInput(dy, inputShape: inputShape, reference: false)
    }

    /// `forward` on the scalar reference path (`fmaf` channel tiles, one pass per residue class):
    /// the twin every vector path must match bit for bit.
    public func forwardReference(_ x: Tensor) -> Tensor { forward(x, reference: true) }

    /// `backwardInput` on the scalar reference path.
    public func backwardInputReference(_ dy: Tensor, inputShape: [Int]) -> Tensor {
        backwardInput(dy, inputShape: inputShape, reference: true)
    }

    private func forward(_ x: Tensor, reference: Bool) -> Tensor {
        precondition(x.shape.count == 4 && x.shape[0] == inChannels, "Conv3d input must be [Cin, D, H, W]")
        let inSize = Array(x.shape[1...])
        return x.data.withUnsafeBufferPointer { xp in
            Tensor.overwritten(shape: outputShape(x.shape)) { y in
                forward(inputs: [ChannelSlab(pointer: UnsafeMutablePointer(mutating: xp.baseAddress!), channels: inChannels)],
                        inputSize: inSize, outputs: [ChannelSlab(pointer: y, channels: outChannels)],
                        reference: reference)
            }
        }
    }

    private func backwardInput(_ dy: Tensor, inputShape: [Int], reference: Bool) -> Tensor {
        precondition(dy.shape == outputShape(inputShape), "Conv3d output gradient shape")
        return dy.data.withUnsafeBufferPointer { gp in
            Tensor.overwritten(shape: inputShape) { dx in
                backwardInput(outputGradient: UnsafeMutablePointer(mutating: gp.baseAddress!),
                              inputSize: Array(inputShape[1...]),
                              inputGradients: [ChannelSlab(pointer: dx, channels: inChannels)], reference: reference)
            }
        }
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
    func forward(inputs: [ChannelSlab], inputSize: [Int], outputs: [ChannelSlab], reference: Bool = false) {
        weight.withUnsafeBufferPointer { w in
            if let bias {
                bias.withUnsafeBufferPointer { b in
                    Conv3d.correlate(inputs: inputs, inputSize: inputSize, outputs: outputs,
                                     weight: w.baseAddress!, bias: b.baseAddress!, cin: inChannels,
                                     cout: outChannels, geometry: geometry, reference: reference)
                }
            } else {
                Conv3d.correlate(inputs: inputs, inputSize: inputSize, outputs: outputs,
                                 weight: w.baseAddress!, bias: nil, cin: inChannels, cout: outChannels,
                                 geometry: geometry, reference: reference)
            }
        }
    }

    /// Backward pass to the input: `outputGradient` [Cout, D', H', W'] → the input gradient,
    /// overwritten (not accumulated) into `inputGradients`, split along channels like `inputs`,
    /// plus `bias` [Cin] when given (the forward pass of a transposed convolution).
    func backwardInput(outputGradient: UnsafeMutablePointer<Float>, inputSize: [Int],
                       inputGradients: [ChannelSlab], bias: [Float]? = nil, reference: Bool = false) {
        let g = geometry
        let outSize = g.outputSize(inputSize)
        let plane = inputSize.reduce(1, *)
        if !reference && g.kernel == g.stride && g.padding == [0, 0, 0]
            && (0..<3).allSatisfy({ inputSize[$0] % g.stride[$0] == 0 }) {
            backwardInputOneTapPerVoxel(outputGradient: outputGradient, inputSize: inputSize,
                                        inputGradients: inputGradients, bias: bias)
            return
        }
        var phases: [(residue: [Int], phase: AdjointPhase)] = []
        var everyResidue = outSize.allSatisfy { $0 > 0 }
        for rz in 0..<g.stride[0] {
            for ry in 0..<g.stride[1] {
                for rx in 0..<g.stride[2] {
                    if let phase = AdjointPhase(geometry: g, residue: [rz, ry, rx], inputSize: inputSize) {
                        phases.append(([rz, ry, rx], phase))
                    } else {
                        everyResidue = false
                    }
                }
            }
        }
        // Residues no tap reaches (a stride larger than the kernel) stay zero; when every residue
        // has a phase, the phases overwrite every voxel and zeroing first would be a wasted pass.
        if !everyResidue {
            for slab in inputGradients { slab.pointer.update(repeating: 0, count: slab.channels * plane) }
        }
        defer { if let bias { Conv3d.addBias(bias, to: inputGradients, plane: plane) } }
        guard outSize.allSatisfy({ $0 > 0 }) else { return }
        for (residue, phase) in phases {
            phase.weight(of: self).withUnsafeBufferPointer { w in
                Conv3d.correlate(inputs: [ChannelSlab(pointer: outputGradient, channels: outChannels)],
                                 inputSize: outSize, outputs: inputGradients, weight: w.baseAddress!,
                                 bias: nil, cin: outChannels, cout: inChannels, geometry: phase.geometry,
                                 outputSize: phase.count, destination: (inputSize, g.stride, residue),
                                 reference: reference)
            }
        }
    }

    /// The adjoint when the kernel equals the stride without padding (the 2×2×2 stride-2
    /// up-convolutions): every input voxel receives exactly one tap, the one of its residue class,
    /// so all classes are one pointwise convolution with Cin × (classes) outputs whose planes are
    /// the input-gradient planes shifted by each residue and written with the stride. One gather
    /// of the output gradient instead of one per class; each value is the same single-tap chain
    /// as in its class's pass, so the bits are the same.
    private func backwardInputOneTapPerVoxel(outputGradient: UnsafeMutablePointer<Float>, inputSize: [Int],
                                             inputGradients: [ChannelSlab], bias: [Float]?) {
        let g = geometry
        let outSize = g.outputSize(inputSize)
        let (plane, outPlane, classes) = (inputSize.reduce(1, *), outSize.reduce(1, *), g.kernelVolume)
        // Residue (rz, ry, rx) is tap (rz·k1 + ry)·k2 + rx: its offset in an input-gradient plane.
        var shifts: [Int] = []
        for rz in 0..<g.stride[0] {
            for ry in 0..<g.stride[1] {
                for rx in 0..<g.stride[2] { shifts.append((rz * inputSize[1] + ry) * inputSize[2] + rx) }
            }
        }
        let outputPlanes: [UnsafeMutablePointer<Float>?] = inputGradients.flatMap { slab in
            (0..<slab.channels).flatMap { c in shifts.map { slab.pointer + c * plane + $0 } }
        }
        let inputPlanes: [UnsafePointer<Float>?] = (0..<outChannels).map { UnsafePointer(outputGradient + $0 * outPlane) }
        // Output m = ci·classes + r reads W[co, ci, r] over co.
        var merged = [Float](repeating: 0, count: inChannels * classes * outChannels)
        weight.withUnsafeBufferPointer { w in
            for ci in 0..<inChannels {
                for r in 0..<classes {
                    for co in 0..<outChannels {
                        merged[(ci * classes + r) * outChannels + co] = w[(co * inChannels + ci) * classes + r]
                    }
                }
            }
        }
        let expandedBias = bias.map { b in (0..<(inChannels * classes)).map { b[$0 / classes] } }
        merged.withUnsafeBufferPointer { w in
            if let expandedBias {
                expandedBias.withUnsafeBufferPointer { b in
                    Conv3d.correlate(inputPlanes: inputPlanes, inputSize: outSize, outputPlanes: outputPlanes,
                                     weight: w.baseAddress!, bias: b.baseAddress!, cin: outChannels,
                                     cout: inChannels * classes, geometry: ConvGeometry(kernel: [1, 1, 1]),
                                     outputSize: outSize, destination: (inputSize, g.stride, [0, 0, 0]))
                }
            } else {
                Conv3d.correlate(inputPlanes: inputPlanes, inputSize: outSize, outputPlanes: outputPlanes,
                                 weight: w.baseAddress!, bias: nil, cin: outChannels, cout: inChannels * classes,
                                 geometry: ConvGeometry(kernel: [1, 1, 1]), outputSize: outSize,
                                 destination: (inputSize, g.stride, [0, 0, 0]))
            }
        }
    }

    /// plane[c] += bias[c] over the channels of `slabs` in order.
    private static func addBias(_ bias: [Float], to slabs: [ChannelSlab], plane: Int) {
        let planes = slabs.flatMap { slab in (0..<slab.channels).map { SharedPointer(slab.pointer + $0 * plane) } }
        Parallel.forEach(planes.count) { c in
            let (bv, dst) = (bias[c], planes[c].base)
            for t in 0..<plane { dst[t] += bv }
        }
    }

    /// Upper bound on one worker's input block: about one core's L2 cache, so the kernel reads
    /// the block while the gather's writes are still there (chunks of 16 MB ran 10–20% slower).
    static let directBlockBudgetBytes = 1 << 20
    /// Fewest outputs per chunk worth a gather and a pass over the weights.
    static let minimumChunkPositions = 512

    /// Correlation y = W ⋆ x (+ b) by `ck_conv_direct`: each chunk of output rows gathers the input
    /// it reads into a zero-padded block of at most `directBlockBudgetBytes`, then register tiles
    /// (channel tiles, or position tiles for narrow layers; `ck_direct_path` picks) run one fused
    /// multiply-add chain per output over (input channel, tap).
    /// Nothing is packed per column, so the work is nearly all multiply-adds even at 16 channels.
    /// Chunks go to whichever worker is free (`Parallel.forEachClaimed`).
    ///
    /// `outputSize` (default: the geometry's) sets how many outputs to compute per axis; inputs read
    /// past the volume are zero. `destination` places output (z, y, x) at (z·stride + offset, …) of
    /// a grid of the given size (default: the output grid itself).
    static func correlate(inputs: [ChannelSlab], inputSize: [Int], outputs: [ChannelSlab],
                          weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
                          cin: Int, cout: Int, geometry g: ConvGeometry, outputSize: [Int]? = nil,
                          destination: (size: [Int], stride: [Int], offset: [Int])? = nil, reference: Bool = false) {
        precondition(inputs.reduce(0) { $0 + $1.channels } == cin, "input channels")
        precondition(outputs.reduce(0) { $0 + $1.channels } == cout, "output channels")
        let outSize = outputSize ?? g.outputSize(inputSize)
        let place = destination ?? (outSize, [1, 1, 1], [0, 0, 0])
        let inPlane = inputSize.reduce(1, *), outPlane = place.size.reduce(1, *)
        let inputPlanes: [UnsafePointer<Float>?] = inputs.flatMap { slab in
            (0..<slab.channels).map { UnsafePointer(slab.pointer + $0 * inPlane) }
        }
        let outputPlanes: [UnsafeMutablePointer<Float>?] = outputs.flatMap { slab in
            (0..<slab.channels).map { slab.pointer + $0 * outPlane }
        }
        correlate(inputPlanes: inputPlanes, inputSize: inputSize, outputPlanes: outputPlanes, weight: weight,
                  bias: bias, cin: cin, cout: cout, geometry: g, outputSize: outSize, destination: place,
                  reference: reference)
    }

    /// `correlate` on one pointer per input and per output channel plane (each output plane a
    /// grid of the destination's size).
    static func correlate(inputPlanes: [UnsafePointer<Float>?], inputSize: [Int],
                          outputPlanes: [UnsafeMutablePointer<Float>?], weight: UnsafePointer<Float>,
                          bias: UnsafePointer<Float>?, cin: Int, cout: Int, geometry g: ConvGeometry,
                          outputSize outSize: [Int], destination place: (size: [Int], stride: [Int], offset: [Int]),
                          reference: Bool = false) {
        precondition(inputPlanes.count == cin && outputPlanes.count == cout, "channel planes")
        guard outSize.allSatisfy({ $0 > 0 }) else { return }
        let taps = g.kernelVolume
        func triple(_ v: [Int]) -> (Int32, Int32, Int32) { (Int32(v[0]), Int32(v[1]), Int32(v[2])) }
        var geometry = ck_conv_geometry(in_size: triple(inputSize), out_size: triple(outSize), kernel: triple(g.kernel),
                                        stride: triple(g.stride), padding: triple(g.padding),
                                        dest_size: triple(place.size), dest_stride: triple(place.stride),
                                        dest_offset: triple(place.offset))
        let path = ck_direct_path(&geometry, Int32(cin), Int32(cout), reference ? 1 : 0)
        let packed = UnsafeMutablePointer<Float>.allocate(capacity: ck_direct_weight_count(path, Int32(cout),
                                                                                          Int32(cin), Int32(taps)))
        defer { packed.deallocate() }
        ck_direct_pack_weight(path, Int32(cout), Int32(cin), Int32(taps), weight, packed)
        // Chunks of whole planes when there are enough of them, else of rows within a plane: at
        // least four per worker for balance, each block within the budget.
        let (depth, height) = (outSize[0], outSize[1])
        // A chunk gathers its input block and reads every weight once: small layers get fewer
        // chunks, each of at least `minimumChunkPositions` outputs.
        let target = max(1, min(4 * Parallel.workerCount, outSize.reduce(1, *) / minimumChunkPositions))
        var planes = 1, rows = height
        if depth >= target {
            planes = (depth + target - 1) / target
            while planes > 1 && ck_direct_scratch_count(path, &geometry, Int32(cin), Int32(planes), Int32(height)) * 4
                > directBlockBudgetBytes { planes -= 1 }
        } else {
            let splits = (target + depth - 1) / depth
            rows = (height + splits - 1) / splits
        }
        while rows > 1 && ck_direct_scratch_count(path, &geometry, Int32(cin), 1, Int32(rows)) * 4 > directBlockBudgetBytes {
            rows -= 1
        }
        let (chunkPlanes, chunkRows) = (planes, rows)
        let zChunks = (depth + planes - 1) / planes, yChunks = (height + rows - 1) / rows
        let scratchCount = ck_direct_scratch_count(path, &geometry, Int32(cin), Int32(planes), Int32(rows))
        let shared = SharedDirectArguments(geometry: geometry, inputPlanes: inputPlanes, outputPlanes: outputPlanes,
                                           weight: SharedPointer(packed),
                                           bias: bias.map { SharedPointer(UnsafeMutablePointer(mutating: $0)) })
        Parallel.forEachClaimed(zChunks * yChunks) { next in
            let scratch = UnsafeMutablePointer<Float>.allocate(capacity: scratchCount)
            defer { scratch.deallocate() }
            var geometry = shared.geometry
            while let c = next() {
                let z0 = (c / yChunks) * chunkPlanes, y0 = (c % yChunks) * chunkRows
                shared.inputPlanes.withUnsafeBufferPointer { inp in
                    shared.outputPlanes.withUnsafeBufferPointer { outp in
                        ck_conv_direct(path, &geometry, Int32(cin), inp.baseAddress!, Int32(cout), shared.weight.base,
                                       shared.bias?.base, outp.baseAddress!, Int32(z0), Int32(min(z0 + chunkPlanes, depth)),
                                       Int32(y0), Int32(min(y0 + chunkRows, height)), scratch)
                    }
                }
            }
        }
    }
}

/// One residue class r (per axis, 0 ≤ r < stride) of a convolution's input grid, seen from the
/// adjoint: input voxel s·q + r receives W[t]·dy[q + (r + p − t)/s] for the taps t with
/// r + p − t divisible by s. Over q that is a stride-1 correlation of dy with those taps in
/// descending order (the flipped sub-kernel) and padding (t_max − r − p)/s, written back with
/// stride s at offset r. At stride 1 the one phase is the whole flipped kernel.
struct AdjointPhase {
    /// Per axis, the contributing taps in descending order.
    let taps: [[Int]]
    /// Input voxels of this residue per axis.
    let count: [Int]
    let geometry: ConvGeometry

    init?(geometry g: ConvGeometry, residue r: [Int], inputSize: [Int]) {
        var taps: [[Int]] = [], count: [Int] = [], padding: [Int] = []
        for axis in 0..<3 {
            let s = g.stride[axis]
            let t = (0..<g.kernel[axis]).reversed().filter { (r[axis] + g.padding[axis] - $0) % s == 0 }
            guard let largest = t.first, r[axis] < inputSize[axis] else { return nil }
            taps.append(t)
            count.append((inputSize[axis] - r[axis] + s - 1) / s)
            padding.append((largest - r[axis] - g.padding[axis]) / s)
        }
        self.taps = taps
        self.count = count
        self.geometry = ConvGeometry(kernel: taps.map(\.count), stride: [1, 1, 1], padding: padding)
    }

    /// The sub-kernel as the adjoint convolution's weight [Cin, Cout, mD, mH, mW].
    func weight(of conv: Conv3d) -> [Float] {
        let k = conv.geometry.kernel
        let sourceTaps = taps[0].flatMap { a in taps[1].flatMap { b in taps[2].map { c in (a * k[1] + b) * k[2] + c } } }
        let (cin, cout, kv) = (conv.inChannels, conv.outChannels, conv.geometry.kernelVolume)
        return [Float](unsafeUninitializedCapacity: cin * cout * sourceTaps.count) { buffer, initialized in
            conv.weight.withUnsafeBufferPointer { w in
                var i = 0
                for ci in 0..<cin {
                    for co in 0..<cout {
                        let base = (co * cin + ci) * kv
                        for t in sourceTaps { buffer[i] = w[base + t]; i += 1 }
                    }
                }
            }
            initialized = cin * cout * sourceTaps.count
        }
    }
}
