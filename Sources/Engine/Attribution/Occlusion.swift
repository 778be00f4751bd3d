import Foundation

/// Occlusion (Captum semantics): a cube of side `size` slides with `stride`; each position is set
/// to the baseline and T(x) − T(occluded x) is added to every voxel of the cube; voxels covered by
/// several positions get the average. Each voxel carries its cube's whole difference (not divided
/// by the cube volume), as Captum does. Unlike Captum, a last position flush with the far edge
/// is added when the stride does not reach it, so every voxel is covered.
/// The target's mask is fixed to the clean prediction.
public struct Occlusion: AttributionMethod {
    public var kind: AttributionMethodKind { .occlusion }
    public var size: Int
    public var stride: Int
    public var baseline: Baseline

    public init(size: Int, stride: Int, baseline: Baseline = .zeros) {
        self.size = size
        self.stride = stride
        self.baseline = baseline
    }

    /// Start offsets of the cube along one axis of length `dim`.
    public static func starts(dim: Int, size: Int, stride: Int) -> [Int] {
        let side = min(size, dim)
        var out = Array(Swift.stride(from: 0, through: dim - side, by: stride))
        if let last = out.last, last + side < dim { out.append(dim - side) }
        return out
    }

    public func attribute(_ input: Tensor, model: any ExplainableModel, target: SegmentTarget,
                          progress: ProgressHandler?, cancel: CancellationToken?) throws -> AttributionResult {
        guard input.shape.count == 4 else {
            throw AttributionError.shapeMismatch("occlusion needs a [1, I, J, K] input, got \(input.shape)")
        }
        let (ni, nj, nk) = (input.shape[1], input.shape[2], input.shape[3])
        let mask = try model.fixedMask(for: input, target: target, cancel: cancel)
        let t0 = try model.targetValues([input], target: target, mask: mask, cancel: cancel)[0]
        let b = baseline.resolve(for: input)
        let si = Self.starts(dim: ni, size: size, stride: stride)
        let sj = Self.starts(dim: nj, size: size, stride: stride)
        let sk = Self.starts(dim: nk, size: size, stride: stride)
        let (wi, wj, wk) = (min(size, ni), min(size, nj), min(size, nk))
        let total = si.count * sj.count * sk.count
        var sum = [Double](repeating: 0, count: input.count)
        var count = [Int32](repeating: 0, count: input.count)
        var work = input
        var done = 0
        for i0 in si {
            for j0 in sj {
                for k0 in sk {
                    try cancel?.check()
                    forEachVoxel(i0, j0, k0, wi, wj, wk, nj, nk) { work.data[$0] = b }
                    let t = try model.targetValues([work], target: target, mask: mask, cancel: cancel)[0]
                    let diff = t0 - t
                    forEachVoxel(i0, j0, k0, wi, wj, wk, nj, nk) { v in
                        work.data[v] = input.data[v]
                        sum[v] += diff
                        count[v] += 1
                    }
                    done += 1
                    progress?(Double(done) / Double(total))
                }
            }
        }
        var map = Tensor(zeros: input.shape)
        for v in 0..<input.count where count[v] > 0 { map.data[v] = Float(sum[v] / Double(count[v])) }
        return AttributionResult(map: map, targetValue: t0)
    }

    @inline(__always)
    private func forEachVoxel(_ i0: Int, _ j0: Int, _ k0: Int, _ wi: Int, _ wj: Int, _ wk: Int,
                              _ nj: Int, _ nk: Int, _ body: (Int) -> Void) {
        for i in i0..<(i0 + wi) {
            for j in j0..<(j0 + wj) {
                let row = (i * nj + j) * nk
                for k in k0..<(k0 + wk) { body(row + k) }
            }
        }
    }
}
