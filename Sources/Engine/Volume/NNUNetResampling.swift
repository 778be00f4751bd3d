import Foundation

/// nnU-Net v2's default resampling (`nnunetv2.preprocessing.resampling.default_resampling`,
/// 2.8.1): `compute_new_shape`, `determine_do_sep_z_and_axis` and `resample_data_or_seg` with
/// `is_seg=False`, as `resample_data_or_seg_to_shape` calls them for the network input
/// (`resampling_fn_data_kwargs`) and for the logits on the way back
/// (`resampling_fn_probabilities_kwargs`).
///
/// Each channel is resampled in float64 and stored in the caller's type, as nnU-Net casts to
/// `float` and writes into an array of the input's dtype:
/// - without separate z, skimage `resize(order, mode="edge", anti_aliasing=False)`: that is
///   `scipy.ndimage.zoom(grid_mode=True, mode="nearest")` — sample o of n is read at
///   (o + ½)·in/n − ½; order 3 pads 12 edge values (`_prepad_for_spline_filter`) and applies the
///   cubic B-spline prefilter (`apply_filter`, reflect initialisation) — then clipped to the
///   channel's range (`_clip_warp_output`);
/// - with separate z, the same `resize` per slice across the low-resolution axis (each slice
///   clipped to its own range), then `map_coordinates(order=order_z, mode="nearest")` along that
///   axis, unclipped.
///
/// The B-spline interpolation is separable, so it runs one axis at a time (the most shrinking
/// first); this equals scipy's tensor-product evaluation up to float64 rounding.
public struct NNUNetResampling: Sendable, Equatable {
    /// Spline order of `resize` (in-plane order when z is resampled separately): 0, 1 or 3.
    public var order: Int
    /// Spline order along the separate low-resolution axis: 0, 1 or 3.
    public var orderZ: Int
    /// `force_separate_z`: nil decides from the spacings' anisotropy.
    public var forceSeparateZ: Bool?
    /// `separate_z_anisotropy_threshold` (nnU-Net's `ANISO_THRESHOLD`, 3, by default).
    public var anisotropyThreshold = 3.0
    public static let supportedOrders = [0, 1, 3]

    public init(order: Int, orderZ: Int = 0, forceSeparateZ: Bool? = nil) {
        precondition(Self.supportedOrders.contains(order) && Self.supportedOrders.contains(orderZ),
                     "unsupported spline order")
        (self.order, self.orderZ, self.forceSeparateZ) = (order, orderZ, forceSeparateZ)
    }

    /// `compute_new_shape`: round(old spacing / new spacing · size), Python's half-to-even round.
    public static func newShape(_ shape: [Int], from old: [Double], to new: [Double]) -> [Int] {
        (0..<shape.count).map { Int((old[$0] / new[$0] * Double(shape[$0])).rounded(.toNearestOrEven)) }
    }

    /// `determine_do_sep_z_and_axis`: the axis resampled separately, or nil. With
    /// `force_separate_z` unset, the current spacing is checked first, then the new one; the
    /// axis is the one with the largest spacing, and none when two or three axes share it.
    public func separateAxis(current: [Double], new: [Double]) -> Int? {
        func anisotropic(_ s: [Double]) -> Bool { s.max()! / s.min()! > anisotropyThreshold }
        func lowResolutionAxis(_ s: [Double]) -> Int? {
            let largest = s.max()!
            let axes = s.indices.filter { largest / s[$0] == 1 }
            return axes.count == 1 ? axes[0] : nil
        }
        switch forceSeparateZ {
        case false?: return nil
        case true?: return lowResolutionAxis(current)
        case nil:
            if anisotropic(current) { return lowResolutionAxis(current) }
            if anisotropic(new) { return lowResolutionAxis(new) }
            return nil
        }
    }

    /// `resample_data_or_seg_to_shape(data, newShape, current, new, is_seg=False, …)` of a
    /// [channels, shape] C-order array. Returns the input unchanged when the shapes agree.
    public func resample(_ data: [Float], channels: Int, shape: [Int], to newShape: [Int],
                         current: [Double], new: [Double]) -> [Float] {
        resampleChannels(data, channels: channels, shape: shape, to: newShape, current: current, new: new)
    }

    /// The same for float16 data (nnU-Net's logits), stored back in float16 as nnU-Net stores them.
    public func resample(_ data: [Float16], channels: Int, shape: [Int], to newShape: [Int],
                         current: [Double], new: [Double]) -> [Float16] {
        resampleChannels(data, channels: channels, shape: shape, to: newShape, current: current, new: new)
    }

    private func resampleChannels<T: BinaryFloatingPoint>(_ data: [T], channels: Int, shape: [Int], to newShape: [Int],
                                                          current: [Double], new: [Double]) -> [T] {
        precondition(data.count == channels * shape.reduce(1, *), "data and shape disagree")
        guard shape != newShape else { return data }
        let axis = separateAxis(current: current, new: new)
        let n = shape.reduce(1, *)
        var out = [T](repeating: 0, count: channels * newShape.reduce(1, *))
        for c in 0..<channels {
            var channel = [Double](repeating: 0, count: n)
            for i in 0..<n { channel[i] = Double(data[c * n + i]) }
            let resampled: [Double]
            if let axis {
                resampled = separateZ(channel, shape: shape, to: newShape, axis: axis)
            } else {
                var (values, size) = (channel, shape)
                for a in Self.passOrder(from: shape, to: newShape) {
                    (values, size) = Self.resample(values, shape: size, axis: a, to: newShape[a], order: order)
                }
                resampled = Self.clip(values, toRangeOf: channel)
            }
            let base = c * resampled.count
            for i in resampled.indices { out[base + i] = T(resampled[i]) }
        }
        return out
    }

    /// In-plane `resize` slice by slice across `axis`, then `map_coordinates` along it.
    private func separateZ(_ x: [Double], shape: [Int], to newShape: [Int], axis: Int) -> [Double] {
        let plane = (0..<3).filter { $0 != axis }
        // Move `axis` first so that each slice is contiguous.
        let axes = [axis] + plane
        var slices = NNUNetPipeline.permute(x, shape: shape, order: axes)
        let (inPlane, outPlane) = (plane.map { shape[$0] }, plane.map { newShape[$0] })
        let (inCount, outCount) = (inPlane.reduce(1, *), outPlane.reduce(1, *))
        if inPlane != outPlane {
            var resized = [Double](repeating: 0, count: shape[axis] * outCount)
            resized.withUnsafeMutableBufferPointer { dst in
                let d = SharedPointer(dst.baseAddress!)
                slices.withUnsafeBufferPointer { src in
                    let s = SharedPointer(UnsafeMutablePointer(mutating: src.baseAddress!))
                    Parallel.forEach(shape[axis]) { z in
                        let slice = Array(UnsafeBufferPointer(start: s + z * inCount, count: inCount))
                        var (values, size) = (slice, [1] + inPlane)
                        for a in Self.passOrder(from: inPlane, to: outPlane) {
                            (values, size) = Self.resample(values, shape: size, axis: a + 1, to: outPlane[a], order: order)
                        }
                        let clipped = Self.clip(values, toRangeOf: slice)
                        for i in 0..<outCount { d[z * outCount + i] = clipped[i] }
                    }
                }
            }
            slices = resized
        }
        var size = [shape[axis]] + outPlane
        if shape[axis] != newShape[axis] {
            (slices, size) = Self.resample(slices, shape: size, axis: 0, to: newShape[axis], order: orderZ)
        }
        // Back to the original axis order.
        let back = (0..<3).map { axes.firstIndex(of: $0)! }
        return NNUNetPipeline.permute(slices, shape: size, order: back)
    }

    /// The axes whose size changes, the most shrinking first, so that later passes see fewer samples.
    static func passOrder(from shape: [Int], to newShape: [Int]) -> [Int] {
        shape.indices.filter { shape[$0] != newShape[$0] }
            .sorted { Double(newShape[$0]) / Double(shape[$0]) < Double(newShape[$1]) / Double(shape[$1]) }
    }

    private static func clip(_ values: [Double], toRangeOf input: [Double]) -> [Double] {
        guard let lo = input.min(), let hi = input.max() else { return values }
        return values.map { min(max($0, lo), hi) }
    }

    /// Padding of scipy's spline prefilter for mode "nearest" (`_prepad_for_spline_filter`).
    static let splinePadding = 12
    /// The cubic B-spline pole √3 − 2.
    static let cubicPole = -0.267949192431122706472553658494127633

    /// Where the output samples of `count` read along an input axis of `size`: per sample the
    /// first tap (an index into the line, padded for order 3) and order + 1 weights, flat, as
    /// scipy's `zoom_shift` (grid mode) and `get_spline_interpolation_weights` compute them.
    static func taps(size: Int, count: Int, order: Int) -> (starts: [Int], weights: [Double]) {
        let zoom = Double(size) / Double(count)
        let pad = order == 3 ? splinePadding : 0
        let length = size + 2 * pad
        var starts: [Int] = [], weights: [Double] = []
        for o in 0..<count {
            let cc = (Double(o) + 0.5) * zoom - 0.5 + Double(pad)
            switch order {
            case 0:
                starts.append(min(max(Int((cc + 0.5).rounded(.down)), 0), length - 1))
                weights.append(1)
            case 1:
                starts.append(Int(cc.rounded(.down)))
                let w0 = 1 - (cc - cc.rounded(.down))
                weights += [w0, 1 - w0]
            default:
                let y = cc - cc.rounded(.down), z = 1 - y
                let w1 = (y * y * (y - 2) * 3 + 4) / 6
                let w2 = (z * z * (z - 2) * 3 + 4) / 6
                let w0 = z * z * z / 6
                starts.append(Int(cc.rounded(.down)) - 1)
                weights += [w0, w1, w2, 1 - w0 - w1 - w2]
            }
        }
        return (starts, weights)
    }

    /// scipy's `apply_filter` for order 3 with mode "nearest" (reflect initialisation), in place,
    /// on `width` interleaved lines of length n: c[i·width + l] is sample i of line l.
    static func prefilter(_ c: UnsafeMutablePointer<Double>, length n: Int, width: Int) {
        let z = cubicPole
        let gain = (1 - z) * (1 - 1 / z)
        for i in 0..<(n * width) { c[i] *= gain }
        let zn = pow(z, Double(n))
        for l in 0..<width {
            var zi = z
            let c0 = c[l]
            var first = c[l] + zn * c[(n - 1) * width + l]
            for i in 1..<n {
                first += zi * (c[i * width + l] + zn * c[(n - 1 - i) * width + l])
                zi *= z
            }
            c[l] = first * (z / (1 - zn * zn)) + c0
        }
        for i in 1..<n { for l in 0..<width { c[i * width + l] += z * c[(i - 1) * width + l] } }
        for l in 0..<width { c[(n - 1) * width + l] *= z / (z - 1) }
        for i in stride(from: n - 2, through: 0, by: -1) {
            for l in 0..<width { c[i * width + l] = z * (c[(i + 1) * width + l] - c[i * width + l]) }
        }
    }

    /// One axis of a C-order 3-D array resampled to `count` samples with the spline `order`
    /// (nearest-edge boundary). The array is seen as [outer, size, inner]; blocks of up to 64
    /// neighbouring lines (consecutive inner indices) are gathered, filtered and interpolated
    /// together, so that every memory access runs along contiguous rows. Blocks run in parallel.
    static func resample(_ x: [Double], shape: [Int], axis: Int, to count: Int, order: Int) -> ([Double], [Int]) {
        let size = shape[axis]
        var outShape = shape
        outShape[axis] = count
        let inner = shape[(axis + 1)...].reduce(1, *)
        let outer = shape[..<axis].reduce(1, *)
        let (starts, weights) = taps(size: size, count: count, order: order)
        let pad = order == 3 ? splinePadding : 0, length = size + 2 * pad, tapCount = order + 1
        let blockWidth = 64, blocksPerRow = (inner + blockWidth - 1) / blockWidth
        var out = [Double](repeating: 0, count: outShape.reduce(1, *))
        out.withUnsafeMutableBufferPointer { dst in
            let d = SharedPointer(dst.baseAddress!)
            x.withUnsafeBufferPointer { src in
                let s = SharedPointer(UnsafeMutablePointer(mutating: src.baseAddress!))
                Parallel.forEachBlock(outer * blocksPerRow) { blocks in
                    let lines = UnsafeMutablePointer<Double>.allocate(capacity: length * blockWidth)
                    defer { lines.deallocate() }
                    for block in blocks {
                        let o = block / blocksPerRow, first = (block % blocksPerRow) * blockWidth
                        let width = min(blockWidth, inner - first)
                        for i in 0..<length {
                            let row = s + (o * size + min(max(i - pad, 0), size - 1)) * inner + first
                            (lines + i * width).update(from: row, count: width)
                        }
                        if order == 3 { prefilter(lines, length: length, width: width) }
                        for k in 0..<count {
                            let target = d + (o * count + k) * inner + first
                            for l in 0..<width { target[l] = 0 }
                            for t in 0..<tapCount {
                                let w = weights[k * tapCount + t]
                                let row = lines + min(max(starts[k] + t, 0), length - 1) * width
                                for l in 0..<width { target[l] += row[l] * w }
                            }
                        }
                    }
                }
            }
        }
        return (out, outShape)
    }
}
