import Foundation

/// Scalar segment targets computed from logits (METHOD.md §1.2), used wherever a method or a
/// metric needs T(x) itself rather than its gradient: IG completeness, occlusion, KernelSHAP and
/// faithfulness. The mask is C order over [I, J, K], like the logits' spatial dimensions.
public enum TargetFunction {
    /// Voxelwise argmax over the class channel of [C, I, J, K] logits (ties → lowest class).
    public static func argmax(_ logits: Tensor) -> [Int32] {
        let c = logits.shape[0]
        let n = logits.count / max(c, 1)
        var labels = [Int32](repeating: 0, count: n)
        logits.data.withUnsafeBufferPointer { z in
            var best = [Float](repeating: -.infinity, count: n)
            for k in 0..<c {
                let base = k * n
                for v in 0..<n where z[base + v] > best[v] {
                    best[v] = z[base + v]
                    labels[v] = Int32(k)
                }
            }
        }
        return labels
    }

    /// T for `classIndex` under `rule` with a fixed `mask`; 0 when the class has no voxel in it.
    public static func value(logits: Tensor, classIndex c: Int, rule: TargetRule, mask: [Int32]) -> Double {
        let classes = logits.shape[0]
        let n = logits.count / classes
        precondition(mask.count == n, "mask and logits disagree")
        let target = Int32(c)
        return logits.data.withUnsafeBufferPointer { z -> Double in
            let base = c * n
            switch rule {
            case .sum, .mean:
                var sum = 0.0, count = 0
                for v in 0..<n where mask[v] == target {
                    sum += Double(z[base + v])
                    count += 1
                }
                if rule == .sum { return sum }
                return count > 0 ? sum / Double(count) : 0
            case .probWeighted:
                var weighted = 0.0, weights = 0.0
                for v in 0..<n where mask[v] == target {
                    var m = -Float.infinity
                    for k in 0..<classes { m = max(m, z[k * n + v]) }
                    var denom = 0.0
                    for k in 0..<classes { denom += Foundation.exp(Double(z[k * n + v] - m)) }
                    let p = Foundation.exp(Double(z[base + v] - m)) / denom
                    weighted += p * Double(z[base + v])
                    weights += p
                }
                return weights > 0 ? weighted / weights : 0
            }
        }
    }

    /// T for every class at once under the sum rule with a fixed mask: Σ_v z_k(v)·[mask(v) = k],
    /// the official KernelSHAP model function (`wrapper_classes_intersection`). One pass.
    public static func sumValues(logits: Tensor, mask: [Int32]) -> [Double] {
        let classes = logits.shape[0]
        let n = logits.count / classes
        precondition(mask.count == n, "mask and logits disagree")
        var out = [Double](repeating: 0, count: classes)
        logits.data.withUnsafeBufferPointer { z in
            for v in 0..<n {
                let k = Int(mask[v])
                if k >= 0 && k < classes { out[k] += Double(z[k * n + v]) }
            }
        }
        return out
    }
}

extension ExplainableModel {
    /// Logits for several inputs, reduced as soon as each is computed so only one full logits
    /// tensor is alive at a time (a 17-class CT volume's logits take hundreds of MB).
    public func targetValues(_ inputs: [Tensor], target: SegmentTarget, mask: [Int32],
                             cancel: CancellationToken?) throws -> [Double] {
        try inputs.map { input in
            try cancel?.check()
            let z = try logits(input, progress: nil, cancel: cancel)
            return TargetFunction.value(logits: z, classIndex: target.classIndex, rule: target.rule, mask: mask)
        }
    }

    /// The clean prediction's mask for `target`: its own mask when given, else argmax of logits.
    public func fixedMask(for input: Tensor, target: SegmentTarget, cancel: CancellationToken?) throws -> [Int32] {
        if let mask = target.mask { return mask }
        return TargetFunction.argmax(try logits(input, progress: nil, cancel: cancel))
    }
}
