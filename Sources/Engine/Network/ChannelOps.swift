import Foundation

/// Channel-wise tensor operations of the segmentation networks. All tensors are [C, D, H, W].
public enum ChannelOps {
    /// Softmax over channels at every voxel: s_c = exp(z_c − max) / Σ_k exp(z_k − max).
    public static func softmax(_ logits: Tensor) -> Tensor {
        let channels = logits.shape[0], plane = logits.count / channels
        var out = logits
        logits.data.withUnsafeBufferPointer { zp in
            out.data.withUnsafeMutableBufferPointer { sp in
                let z = SharedPointer(UnsafeMutablePointer(mutating: zp.baseAddress!))
                let s = SharedPointer(sp.baseAddress!)
                Parallel.forEachBlock(plane, minimumPerWorker: 4096) { voxels in
                    for v in voxels {
                        var m = -Float.infinity
                        for c in 0..<channels { m = max(m, z[c * plane + v]) }
                        var total: Float = 0
                        for c in 0..<channels {
                            let e = expf(z[c * plane + v] - m)
                            s[c * plane + v] = e
                            total += e
                        }
                        let inv = 1 / total
                        for c in 0..<channels { s[c * plane + v] *= inv }
                    }
                }
            }
        }
        return out
    }

    /// Backward of `softmax` from its output s: dz_c = s_c·(ds_c − Σ_k s_k·ds_k).
    public static func softmaxBackward(_ gradient: Tensor, softmax s: Tensor) -> Tensor {
        let channels = s.shape[0], plane = s.count / channels
        var dz = gradient
        for v in 0..<plane {
            var dot: Float = 0
            for c in 0..<channels { dot += s.data[c * plane + v] * gradient.data[c * plane + v] }
            for c in 0..<channels {
                dz.data[c * plane + v] = s.data[c * plane + v] * (gradient.data[c * plane + v] - dot)
            }
        }
        return dz
    }

    /// Reference softmax in Double, voxel by voxel.
    public static func softmaxNaive(_ logits: Tensor) -> Tensor {
        let channels = logits.shape[0], plane = logits.count / channels
        var out = logits
        for v in 0..<plane {
            let z = (0..<channels).map { Double(logits.data[$0 * plane + v]) }
            let e = z.map { exp($0) }
            let total = e.reduce(0, +)
            for c in 0..<channels { out.data[c * plane + v] = Float(e[c] / total) }
        }
        return out
    }

    /// Pads the end of each spatial axis by repeating the last slice until the size is `size`
    /// (`F.pad(x, …, "replicate")` with padding only after, as MONAI's UpCat does).
    public static func replicatePadEnd(_ x: Tensor, to size: [Int]) -> Tensor {
        let (c, d, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        if [d, h, w] == size { return x }
        var out = Tensor(zeros: [c] + size)
        for ch in 0..<c {
            for z in 0..<size[0] {
                let sz = min(z, d - 1)
                for y in 0..<size[1] {
                    let sy = min(y, h - 1)
                    for xx in 0..<size[2] {
                        out.data[((ch * size[0] + z) * size[1] + y) * size[2] + xx] =
                            x.data[((ch * d + sz) * h + sy) * w + min(xx, w - 1)]
                    }
                }
            }
        }
        return out
    }

    /// Backward of `replicatePadEnd`: gradients of the repeated slices add onto the last one.
    public static func replicatePadEndBackward(_ gradient: Tensor, inputShape: [Int]) -> Tensor {
        let size = Array(gradient.shape[1...])
        let (c, d, h, w) = (inputShape[0], inputShape[1], inputShape[2], inputShape[3])
        if [d, h, w] == size { return gradient }
        var dx = Tensor(zeros: inputShape)
        for ch in 0..<c {
            for z in 0..<size[0] {
                let sz = min(z, d - 1)
                for y in 0..<size[1] {
                    let sy = min(y, h - 1)
                    for xx in 0..<size[2] {
                        dx.data[((ch * d + sz) * h + sy) * w + min(xx, w - 1)] +=
                            gradient.data[((ch * size[0] + z) * size[1] + y) * size[2] + xx]
                    }
                }
            }
        }
        return dx
    }
}
