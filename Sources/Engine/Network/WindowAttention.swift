import CKernels
import COpenBLAS
import Foundation

/// Window multi-head self-attention of MONAI's `WindowAttention`, fused from its parts: per
/// window and head, S = (q·hd^-½) kᵀ (batched matmul), S += relative-position bias, S += shift
/// mask (−100 between tokens of different regions), P = softmax over the last dimension,
/// O = P v (batched matmul). The qkv and output projections are `Linear` ops around it.
///
/// Shapes: qkv [windows·n, 3C] with feature s·C + head·hd + j (s ∈ q, k, v), as
/// `qkv.reshape(B', n, 3, heads, hd)` reads it → O [windows·n, C] with channel head·hd + j.
/// The bias is [heads, n, n]. Regions, when given, are [windowsPerImage, n] region labels;
/// window w uses row w mod windowsPerImage, as MONAI broadcasts its mask over the batch.
///
/// The backward pass recomputes P per window from q and k instead of storing every window's
/// probabilities (462 MB in SwinUNETR-48's first stage at 96³; the recomputation costs one more
/// q kᵀ per window).
public struct WindowAttention: Sendable {
    public let heads: Int
    public let headDim: Int
    /// Tokens per window.
    public let tokens: Int
    /// [heads, n, n].
    public let bias: [Float]
    /// [windowsPerImage, n] region labels, or nil for unshifted windows.
    public let regions: [Int32]?
    public let windowsPerImage: Int
    /// MONAI's mask value between tokens of different regions.
    public static let maskValue: Float = -100

    public init(heads: Int, headDim: Int, tokens: Int, bias: [Float], regions: [Int32]?, windowsPerImage: Int) {
        precondition(bias.count == heads * tokens * tokens, "bias size")
        precondition(regions == nil || regions!.count == windowsPerImage * tokens, "region size")
        (self.heads, self.headDim, self.tokens, self.bias) = (heads, headDim, tokens, bias)
        (self.regions, self.windowsPerImage) = (regions, windowsPerImage)
    }

    var channels: Int { heads * headDim }
    var scale: Float { 1 / Float(headDim).squareRoot() }

    public func forward(_ qkv: Tensor) -> Tensor {
        let out = FeatureMap(shape: [qkv.count / (3 * channels), channels])
        forward(FeatureMap(qkv), into: out)
        return out.tensor
    }

    public func backwardInput(_ dOut: Tensor, qkv: Tensor) -> Tensor {
        let dqkv = FeatureMap(shape: qkv.shape)
        backward(FeatureMap(dOut), qkv: FeatureMap(qkv), into: dqkv)
        return dqkv.tensor
    }

    /// Double-precision reference, written as MONAI computes it.
    public func forwardNaive(_ qkv: Tensor) -> Tensor {
        let n = tokens, c = channels, hd = headDim
        let windows = qkv.count / (n * 3 * c)
        var out = Tensor(zeros: [windows * n, c])
        let scale = 1 / Double(hd).squareRoot()
        for w in 0..<windows {
            for h in 0..<heads {
                func at(_ t: Int, _ s: Int, _ j: Int) -> Double { Double(qkv.data[(w * n + t) * 3 * c + s * c + h * hd + j]) }
                for i in 0..<n {
                    var logits = [Double](repeating: 0, count: n)
                    for t in 0..<n {
                        var dot = 0.0
                        for j in 0..<hd { dot += at(i, 0, j) * scale * at(t, 1, j) }
                        dot += Double(bias[(h * n + i) * n + t])
                        if let regions {
                            let r = regions.withUnsafeBufferPointer { $0.baseAddress! + (w % windowsPerImage) * n }
                            if r[i] != r[t] { dot += Double(Self.maskValue) }
                        }
                        logits[t] = dot
                    }
                    let m = logits.max()!
                    let e = logits.map { exp($0 - m) }
                    let total = e.reduce(0, +)
                    for j in 0..<hd {
                        var acc = 0.0
                        for t in 0..<n { acc += e[t] / total * at(t, 2, j) }
                        out.data[(w * n + i) * c + h * hd + j] = Float(acc)
                    }
                }
            }
        }
        return out
    }

    /// P = softmax(α q kᵀ + bias + mask) of one window and head into `p` [n, n]: the scores by
    /// sgemm, then bias, mask and row softmax in one vectorised pass (`ck_attention_softmax`).
    private func probabilities(qkv: UnsafePointer<Float>, window w: Int, head h: Int,
                               into p: UnsafeMutablePointer<Float>) {
        let n = tokens, c = channels, ld = 3 * c
        let base = qkv + w * n * ld + h * headDim
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(n), Int32(n), Int32(headDim),
                    scale, base, Int32(ld), base + c, Int32(ld), 0, p, Int32(n))
        bias.withUnsafeBufferPointer { bp in
            let b = bp.baseAddress! + h * n * n
            guard let regions else {
                return ck_attention_softmax(0, p, b, nil, Self.maskValue, Int32(n))
            }
            regions.withUnsafeBufferPointer { rp in
                ck_attention_softmax(0, p, b, rp.baseAddress! + (w % windowsPerImage) * n, Self.maskValue, Int32(n))
            }
        }
    }

    func forward(_ qkv: FeatureMap, into out: FeatureMap) {
        let n = tokens, c = channels, hd = headDim, ld = 3 * c
        let windows = qkv.count / (n * ld)
        let src = SharedPointer(qkv.pointer), dst = SharedPointer(out.pointer)
        Parallel.forEachBlock(windows * heads) { pairs in
            let p = UnsafeMutablePointer<Float>.allocate(capacity: n * n)
            defer { p.deallocate() }
            for pair in pairs {
                let (w, h) = (pair / heads, pair % heads)
                probabilities(qkv: src.base, window: w, head: h, into: p)
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(n), Int32(hd), Int32(n),
                            1, p, Int32(n), src.base + w * n * ld + 2 * c + h * hd, Int32(ld),
                            0, dst.base + w * n * c + h * hd, Int32(c))
            }
        }
    }

    /// dP = dO vᵀ; dv = Pᵀ dO; dS = P ⊙ (dP − rowsum(dP ⊙ P)); dq = α dS k; dk = α dSᵀ q.
    func backward(_ dOut: FeatureMap, qkv: FeatureMap, into dqkv: FeatureMap) {
        let n = tokens, c = channels, hd = headDim, ld = 3 * c
        let windows = qkv.count / (n * ld)
        let src = SharedPointer(qkv.pointer), g = SharedPointer(dOut.pointer), dst = SharedPointer(dqkv.pointer)
        let alpha = scale
        Parallel.forEachBlock(windows * heads) { pairs in
            let p = UnsafeMutablePointer<Float>.allocate(capacity: n * n)
            let dp = UnsafeMutablePointer<Float>.allocate(capacity: n * n)
            defer { p.deallocate(); dp.deallocate() }
            for pair in pairs {
                let (w, h) = (pair / heads, pair % heads)
                let q = src.base + w * n * ld + h * hd, k = q + c, v = q + 2 * c
                let dq = dst.base + w * n * ld + h * hd, dk = dq + c, dv = dq + 2 * c
                let dO = g.base + w * n * c + h * hd
                probabilities(qkv: src.base, window: w, head: h, into: p)
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(n), Int32(n), Int32(hd),
                            1, dO, Int32(c), v, Int32(ld), 0, dp, Int32(n))
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Int32(n), Int32(hd), Int32(n),
                            1, p, Int32(n), dO, Int32(c), 0, dv, Int32(ld))
                ck_softmax_backward(0, p, dp, Int32(n))
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(n), Int32(hd), Int32(n),
                            alpha, dp, Int32(n), k, Int32(ld), 0, dq, Int32(ld))
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Int32(n), Int32(hd), Int32(n),
                            alpha, dp, Int32(n), q, Int32(ld), 0, dk, Int32(ld))
            }
        }
    }
}

extension Graph {
    /// Window attention over qkv rows. Saves qkv (P is recomputed in the backward pass).
    func windowAttention(_ qkv: Var, _ attention: WindowAttention) -> Var {
        let rows = qkv.value.rows
        let y = FeatureMap(shape: [rows, attention.channels])
        attention.forward(qkv.value, into: y)
        let saved = qkv.value
        return output(y, inputs: [qkv]) {
            { g in
                let dx = FeatureMap(shape: saved.shape)
                attention.backward(g, qkv: saved, into: dx)
                return [dx]
            }
        }
    }
}
