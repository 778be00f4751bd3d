import COpenBLAS
import Foundation

// Ops on token matrices: a tensor read as [rows, width] with the feature width last, as the Swin
// stages hold their tokens (channels last). Each kernel has a Tensor API with a naive twin for
// tests, a raw form for the ops, and a taped op on `Graph` at the end of the file.

/// Channels-first [C, D, H, W] ↔ channels-last [D, H, W, C] (einops
/// `b c d h w -> b d h w c` and back): a transpose of the [C, N] matrix.
public enum ChannelLayout {
    /// [C, D, H, W] → [D, H, W, C].
    public static func toChannelsLast(_ x: Tensor) -> Tensor {
        let c = x.shape[0], n = x.count / c
        var y = Tensor(zeros: Array(x.shape[1...]) + [c])
        x.data.withUnsafeBufferPointer { s in
            y.data.withUnsafeMutableBufferPointer { d in transpose(s.baseAddress!, rows: c, columns: n, into: d.baseAddress!) }
        }
        return y
    }

    /// [D, H, W, C] → [C, D, H, W].
    public static func toChannelsFirst(_ x: Tensor) -> Tensor {
        let c = x.shape.last!, n = x.count / c
        var y = Tensor(zeros: [c] + Array(x.shape.dropLast()))
        x.data.withUnsafeBufferPointer { s in
            y.data.withUnsafeMutableBufferPointer { d in transpose(s.baseAddress!, rows: n, columns: c, into: d.baseAddress!) }
        }
        return y
    }

    /// out[j, i] = in[i, j] for an in matrix [rows, columns], in cache-sized tiles.
    static func transpose(_ src: UnsafePointer<Float>, rows: Int, columns: Int, into dst: UnsafeMutablePointer<Float>) {
        let tile = 32
        let s = SharedPointer(UnsafeMutablePointer(mutating: src)), d = SharedPointer(dst)
        let rowTiles = (rows + tile - 1) / tile
        Parallel.forEachBlock(rowTiles) { tiles in
            for rt in tiles {
                let r0 = rt * tile, r1 = min(rows, r0 + tile)
                var c0 = 0
                while c0 < columns {
                    let c1 = min(columns, c0 + tile)
                    for r in r0..<r1 {
                        for c in c0..<c1 { d[c * rows + r] = s[r * columns + c] }
                    }
                    c0 = c1
                }
            }
        }
    }
}

/// `nn.LayerNorm` over the last dimension (eps, biased variance), with or without affine:
/// y = x̂·γ + β, x̂ = (x − μ)·r, r = (σ² + ε)^-½.
///
/// Shapes: x [rows, W] → y [rows, W]; γ, β [W]. Row statistics accumulate in Double.
public struct LayerNorm: Sendable {
    public let width: Int
    public let eps: Float
    public let weight: [Float]?
    public let bias: [Float]?

    public init(width: Int, eps: Float = 1e-5, weight: [Float]? = nil, bias: [Float]? = nil) {
        precondition(weight == nil || weight!.count == width, "weight size")
        precondition(bias == nil || bias!.count == width, "bias size")
        (self.width, self.eps, self.weight, self.bias) = (width, eps, weight, bias)
    }

    public func forward(_ x: Tensor) -> Tensor {
        let out = FeatureMap(shape: x.shape)
        let xm = FeatureMap(x)
        _ = forward(xm, into: out, normalized: nil)
        return out.tensor
    }

    /// dy → dx: r·(g − mean(g) − x̂·mean(g·x̂)) with g = dy·γ, means over the row.
    public func backwardInput(_ dy: Tensor, input x: Tensor) -> Tensor {
        let out = FeatureMap(shape: x.shape), xhat = FeatureMap(shape: x.shape)
        let r = forward(FeatureMap(x), into: out, normalized: xhat)
        let g = FeatureMap(dy)
        backward(g, normalized: xhat, inverseStd: r)
        return g.tensor
    }

    /// Double-precision reference.
    public func forwardNaive(_ x: Tensor) -> Tensor {
        var y = x
        for row in 0..<(x.count / width) {
            let v = (0..<width).map { Double(x.data[row * width + $0]) }
            let mean = v.reduce(0, +) / Double(width)
            let variance = v.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(width)
            let r = 1 / (variance + Double(eps)).squareRoot()
            for j in 0..<width {
                let g = Double(weight?[j] ?? 1), b = Double(bias?[j] ?? 0)
                y.data[row * width + j] = Float((v[j] - mean) * r * g + b)
            }
        }
        return y
    }

    /// Writes y into `out`, and x̂ into `normalized` when given; returns r per row.
    func forward(_ x: FeatureMap, into out: FeatureMap, normalized: FeatureMap?) -> [Float] {
        let rows = x.count / width, w = width, eps = Double(self.eps)
        var inverseStd = [Float](repeating: 0, count: rows)
        let src = SharedPointer(x.pointer), dst = SharedPointer(out.pointer)
        let nrm = normalized.map { SharedPointer($0.pointer) }
        let gamma = weight, beta = bias
        inverseStd.withUnsafeMutableBufferPointer { rp in
            let rs = SharedPointer(rp.baseAddress!)
            Parallel.forEachBlock(rows, minimumPerWorker: 64) { range in
                for row in range {
                    let p = src.base + row * w, q = dst.base + row * w
                    var sum = 0.0
                    for j in 0..<w { sum += Double(p[j]) }
                    let mean = sum / Double(w)
                    var sq = 0.0
                    for j in 0..<w { let d = Double(p[j]) - mean; sq += d * d }
                    let r = 1 / (sq / Double(w) + eps).squareRoot()
                    rs[row] = Float(r)
                    for j in 0..<w {
                        let xh = Float((Double(p[j]) - mean) * r)
                        if let nrm { nrm[row * w + j] = xh }
                        q[j] = xh * (gamma?[j] ?? 1) + (beta?[j] ?? 0)
                    }
                }
            }
        }
        return inverseStd
    }

    /// In place: `gradient` holds ∂L/∂y on entry and ∂L/∂x on return.
    func backward(_ gradient: FeatureMap, normalized: FeatureMap, inverseStd: [Float]) {
        let rows = gradient.count / width, w = width
        let g = SharedPointer(gradient.pointer), n = SharedPointer(normalized.pointer)
        let gamma = weight
        Parallel.forEachBlock(rows, minimumPerWorker: 64) { range in
            for row in range {
                let gp = g.base + row * w, np = n.base + row * w
                if let gamma { for j in 0..<w { gp[j] *= gamma[j] } }
                var sumG = 0.0, sumGN = 0.0
                for j in 0..<w {
                    sumG += Double(gp[j])
                    sumGN += Double(gp[j]) * Double(np[j])
                }
                let meanG = Float(sumG / Double(w)), meanGN = Float(sumGN / Double(w))
                let r = inverseStd[row]
                for j in 0..<w { gp[j] = r * (gp[j] - meanG - np[j] * meanGN) }
            }
        }
    }
}

/// `nn.Linear`: y = x Wᵀ + b over the last dimension.
///
/// Shapes: x [rows, in] → y [rows, out]; W [out, in] (PyTorch layout), b [out]. Rows are split
/// over the workers, each calling single-threaded sgemm.
public struct Linear: Sendable {
    public let inFeatures: Int
    public let outFeatures: Int
    public let weight: [Float]
    public let bias: [Float]?

    public init(inFeatures: Int, outFeatures: Int, weight: [Float], bias: [Float]?) {
        precondition(weight.count == inFeatures * outFeatures, "weight size")
        precondition(bias == nil || bias!.count == outFeatures, "bias size")
        (self.inFeatures, self.outFeatures, self.weight, self.bias) = (inFeatures, outFeatures, weight, bias)
    }

    public func forward(_ x: Tensor) -> Tensor {
        let y = FeatureMap(shape: Array(x.shape.dropLast()) + [outFeatures])
        forward(FeatureMap(x), into: y)
        return y.tensor
    }

    public func backwardInput(_ dy: Tensor) -> Tensor {
        let dx = FeatureMap(shape: Array(dy.shape.dropLast()) + [inFeatures])
        backward(FeatureMap(dy), into: dx)
        return dx.tensor
    }

    public func forwardNaive(_ x: Tensor) -> Tensor {
        let rows = x.count / inFeatures
        var y = Tensor(zeros: Array(x.shape.dropLast()) + [outFeatures])
        for r in 0..<rows {
            for o in 0..<outFeatures {
                var acc = Double(bias?[o] ?? 0)
                for i in 0..<inFeatures { acc += Double(x.data[r * inFeatures + i]) * Double(weight[o * inFeatures + i]) }
                y.data[r * outFeatures + o] = Float(acc)
            }
        }
        return y
    }

    func forward(_ x: FeatureMap, into y: FeatureMap) {
        let rows = x.count / inFeatures
        let (fi, fo) = (inFeatures, outFeatures)
        let xs = SharedPointer(x.pointer), ys = SharedPointer(y.pointer)
        weight.withUnsafeBufferPointer { wp in
            let w = SharedPointer(UnsafeMutablePointer(mutating: wp.baseAddress!))
            let b = bias
            Parallel.forEachBlock(rows, minimumPerWorker: 64) { range in
                let out = ys.base + range.lowerBound * fo
                if let b {
                    for r in 0..<range.count { (out + r * fo).update(from: b, count: fo) }
                }
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(range.count), Int32(fo), Int32(fi),
                            1, xs.base + range.lowerBound * fi, Int32(fi), w.base, Int32(fi),
                            b == nil ? 0 : 1, out, Int32(fo))
            }
        }
    }

    /// dx = dy W.
    func backward(_ dy: FeatureMap, into dx: FeatureMap) {
        let rows = dy.count / outFeatures
        let (fi, fo) = (inFeatures, outFeatures)
        let gs = SharedPointer(dy.pointer), xs = SharedPointer(dx.pointer)
        weight.withUnsafeBufferPointer { wp in
            let w = SharedPointer(UnsafeMutablePointer(mutating: wp.baseAddress!))
            Parallel.forEachBlock(rows, minimumPerWorker: 64) { range in
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(range.count), Int32(fi), Int32(fo),
                            1, gs.base + range.lowerBound * fo, Int32(fo), w.base, Int32(fi),
                            0, xs.base + range.lowerBound * fi, Int32(fi))
            }
        }
    }
}

/// Exact GELU, `nn.GELU(approximate="none")`: y = x·Φ(x), Φ(x) = ½(1 + erf(x/√2)).
/// Backward: dy·(Φ(x) + x·φ(x)), φ the standard normal density; it needs x.
public enum GELU {
    public static func forward(_ x: Tensor) -> Tensor {
        var y = x
        for i in 0..<y.count { y.data[i] = value(x.data[i]) }
        return y
    }

    public static func backwardInput(_ dy: Tensor, input x: Tensor) -> Tensor {
        var dx = dy
        for i in 0..<dx.count { dx.data[i] *= derivative(x.data[i]) }
        return dx
    }

    /// Double-precision reference.
    public static func forwardNaive(_ x: Tensor) -> Tensor {
        var y = x
        for i in 0..<y.count {
            let v = Double(x.data[i])
            y.data[i] = Float(v * 0.5 * (1 + erf(v / 2.0.squareRoot())))
        }
        return y
    }

    @inline(__always)
    static func value(_ x: Float) -> Float { x * 0.5 * (1 + erff(x * 0.70710678118654752)) }

    @inline(__always)
    static func derivative(_ x: Float) -> Float {
        0.5 * (1 + erff(x * 0.70710678118654752)) + x * 0.39894228040143268 * expf(-0.5 * x * x)
    }
}

/// A row gather: out[r] = in[index[r]] (a whole row of `width` floats), or zeros where the index
/// is −1. Zero padding, cropping, cyclic rolls, window partition and reverse, and the patch-merging
/// space-to-depth are all row gathers of a channels-last token matrix; `SwinGeometry` builds their
/// index maps. The backward pass scatter-adds, so an index map that reads a row twice (MONAI's
/// legacy merging order) sends both gradients to it.
public struct RowGather: Sendable {
    public let index: [Int32]
    public let inputRows: Int
    /// Whether no input row is read twice, so the backward scatter can run in parallel.
    let injective: Bool

    public init(index: [Int32], inputRows: Int) {
        precondition(index.allSatisfy { $0 >= -1 && Int($0) < inputRows }, "gather index out of range")
        self.index = index
        self.inputRows = inputRows
        var seen = [Bool](repeating: false, count: inputRows)
        var injective = true
        for i in index where i >= 0 {
            if seen[Int(i)] { injective = false; break }
            seen[Int(i)] = true
        }
        self.injective = injective
    }

    /// x [inputRows, W] → [index.count, W] (the caller reshapes).
    public func forward(_ x: Tensor) -> Tensor {
        let w = x.count / inputRows
        let y = FeatureMap(shape: [index.count, w])
        forward(FeatureMap(x), into: y, width: w)
        return y.tensor
    }

    public func backwardInput(_ dy: Tensor, width: Int) -> Tensor {
        let dx = FeatureMap(shape: [inputRows, width])
        backward(FeatureMap(dy), into: dx, width: width)
        return dx.tensor
    }

    public func forwardNaive(_ x: Tensor) -> Tensor {
        let w = x.count / inputRows
        var y = Tensor(zeros: [index.count, w])
        for (r, i) in index.enumerated() where i >= 0 {
            for j in 0..<w { y.data[r * w + j] = x.data[Int(i) * w + j] }
        }
        return y
    }

    func forward(_ x: FeatureMap, into y: FeatureMap, width w: Int) {
        let src = SharedPointer(x.pointer), dst = SharedPointer(y.pointer)
        index.withUnsafeBufferPointer { ip in
            let idx = SharedPointer(UnsafeMutablePointer(mutating: ip.baseAddress!))
            Parallel.forEachBlock(index.count, minimumPerWorker: 256) { range in
                for r in range {
                    let i = Int(idx[r])
                    if i >= 0 {
                        (dst.base + r * w).update(from: src.base + i * w, count: w)
                    } else {
                        (dst.base + r * w).update(repeating: 0, count: w)
                    }
                }
            }
        }
    }

    func backward(_ dy: FeatureMap, into dx: FeatureMap, width w: Int) {
        dx.pointer.update(repeating: 0, count: inputRows * w)
        let src = SharedPointer(dy.pointer), dst = SharedPointer(dx.pointer)
        index.withUnsafeBufferPointer { ip in
            let idx = SharedPointer(UnsafeMutablePointer(mutating: ip.baseAddress!))
            let body: @Sendable (Range<Int>) -> Void = { range in
                for r in range {
                    let i = Int(idx[r])
                    guard i >= 0 else { continue }
                    let d = dst.base + i * w, s = src.base + r * w
                    for j in 0..<w { d[j] += s[j] }
                }
            }
            if injective { Parallel.forEachBlock(index.count, minimumPerWorker: 256, body) } else { body(0..<index.count) }
        }
    }
}

/// Token-side ops on a pass.
extension Graph {
    /// [C, D, H, W] → [D·H·W, C] tokens.
    func toChannelsLast(_ x: Var) -> Var {
        let (c, n) = (x.value.channels, x.value.plane)
        let spatial = x.value.spatial
        let y = FeatureMap(shape: [n, c])
        ChannelLayout.transpose(x.value.pointer, rows: c, columns: n, into: y.pointer)
        return output(y, inputs: [x]) {
            { g in
                let dx = FeatureMap(shape: [c] + spatial)
                ChannelLayout.transpose(g.pointer, rows: n, columns: c, into: dx.pointer)
                return [dx]
            }
        }
    }

    /// [D·H·W, C] tokens → [C, D, H, W].
    func toChannelsFirst(_ x: Var, spatial: [Int]) -> Var {
        let (n, c) = (x.value.rows, x.value.width)
        precondition(n == spatial.reduce(1, *), "token count and spatial size")
        let y = FeatureMap(shape: [c] + spatial)
        ChannelLayout.transpose(x.value.pointer, rows: n, columns: c, into: y.pointer)
        return output(y, inputs: [x]) {
            { g in
                let dx = FeatureMap(shape: [n, c])
                ChannelLayout.transpose(g.pointer, rows: c, columns: n, into: dx.pointer)
                return [dx]
            }
        }
    }

    /// LayerNorm over the last dimension. Saves x̂ and r per row.
    func layerNorm(_ x: Var, _ norm: LayerNorm) -> Var {
        let y = FeatureMap(shape: x.shape)
        guard recording else {
            _ = norm.forward(x.value, into: y, normalized: nil)
            return Var(value: y, id: -1)
        }
        let xhat = FeatureMap(shape: x.shape)
        let r = norm.forward(x.value, into: y, normalized: xhat)
        return output(y, inputs: [x]) {
            { g in
                norm.backward(g, normalized: xhat, inverseStd: r)
                return [g]
            }
        }
    }

    /// Linear over the last dimension. Saves nothing.
    func linear(_ x: Var, _ layer: Linear) -> Var {
        let rows = x.value.rows
        let y = FeatureMap(shape: [rows, layer.outFeatures])
        layer.forward(x.value, into: y)
        return output(y, inputs: [x]) {
            { g in
                let dx = FeatureMap(shape: [rows, layer.inFeatures])
                layer.backward(g, into: dx)
                return [dx]
            }
        }
    }

    /// Exact GELU. Saves its input.
    func gelu(_ x: Var) -> Var {
        let y = FeatureMap(shape: x.shape)
        let src = SharedPointer(x.value.pointer), dst = SharedPointer(y.pointer)
        Parallel.forEachBlock(y.count, minimumPerWorker: 1 << 14) { r in
            for i in r { dst[i] = GELU.value(src[i]) }
        }
        let saved = x.value
        return output(y, inputs: [x]) {
            { g in
                let gp = SharedPointer(g.pointer), xp = SharedPointer(saved.pointer)
                Parallel.forEachBlock(g.count, minimumPerWorker: 1 << 14) { r in
                    for i in r { gp[i] *= GELU.derivative(xp[i]) }
                }
                return [g]
            }
        }
    }

    /// Row gather of `width`-wide rows (see `RowGather`); the output is [index count, width]
    /// unless `shape` regroups it (patch merging reads 8 gathered rows as one 8·C token). Saves
    /// nothing.
    func gather(_ x: Var, _ map: RowGather, width: Int, shape: [Int]? = nil) -> Var {
        let inputShape = x.shape
        let y = FeatureMap(shape: shape ?? [map.index.count, width])
        precondition(y.count == map.index.count * width, "gather output shape")
        map.forward(x.value, into: y, width: width)
        return output(y, inputs: [x]) {
            { g in
                let dx = FeatureMap(shape: inputShape)
                map.backward(g, into: dx, width: width)
                return [dx]
            }
        }
    }
}
