import Foundation

/// Reports fractional progress in 0...1 from long computations (inference, attributions).
public typealias ProgressHandler = @Sendable (Double) -> Void

/// A flag that long computations poll so a user (Esc in the explorer) can stop them.
public final class CancellationToken: @unchecked Sendable {
    private let lock = NSLock()
    private var cancelled = false

    public init() {}

    public func cancel() { lock.withLock { cancelled = true } }

    public var isCancelled: Bool { lock.withLock { cancelled } }

    /// Throws `CancellationError` once `cancel()` has been called.
    public func check() throws {
        if isCancelled { throw CancellationError() }
    }
}

/// How the per-voxel logits of the target class are weighted into one scalar (METHOD.md §1.2).
public enum TargetRule: String, Sendable, CaseIterable {
    /// Σ_{v∈M_c} z_c(v) — the official default.
    case sum
    /// Mean logit over the region.
    case mean
    /// Softmax-weighted mean logit; the weights act as constants in backprop.
    case probWeighted = "prob-weighted"
}

/// The thing an attribution explains: class `classIndex` over a predicted mask.
///
/// When `mask` is nil the mask is recomputed from the argmax of each sliding window's own logits;
/// when it is given (the clean image's stitched prediction, in the model grid, C order), it stays
/// fixed, which is how the official evaluation runs IG, SmoothGrad and the perturbation methods.
public struct SegmentTarget: Sendable {
    public var classIndex: Int
    public var rule: TargetRule
    public var mask: [Int32]?

    public init(classIndex: Int, rule: TargetRule = .sum, mask: [Int32]? = nil) {
        self.classIndex = classIndex
        self.rule = rule
        self.mask = mask
    }
}

/// A segmentation model as attribution methods see it: logits for an input, and the input
/// gradient of a segment target. Inputs are preprocessed [1, I, J, K] tensors in the model grid.
///
/// The network engine conforms with sliding-window inference; tests conform with tiny analytic
/// models whose attributions are known in closed form.
public protocol ExplainableModel: Sendable {
    /// Number of output classes (logit channels).
    var classCount: Int { get }

    /// Logits [K, I, J, K'] for the input.
    func logits(_ input: Tensor, progress: ProgressHandler?, cancel: CancellationToken?) throws -> Tensor

    /// ∂T/∂x for the target, following the official per-window semantics (METHOD.md §1.2):
    /// each window's target gradient is added into the full volume; empty-mask windows are skipped.
    func targetGradient(_ input: Tensor, target: SegmentTarget,
                        progress: ProgressHandler?, cancel: CancellationToken?) throws -> Tensor
}

/// Which scalar a sliding-window model's input gradient differentiates.
public enum WindowTarget: String, Sendable, CaseIterable {
    /// The official Agg²Exp semantics (METHOD.md §1.2): each window's own target, its gradient
    /// added into the volume. With overlapping windows this is not the gradient of T computed
    /// from the stitched logits, so IG's completeness does not hold.
    case perWindow = "per-window"
    /// T computed from the stitched (blended) logits, differentiated through the blending: a
    /// window's output gradient is w(v)·g_t(v)/Σ_t' g_t'(v) with g the blend weights (Gaussian for
    /// nnU-Net, 1 for MONAI's constant mode). IG's completeness then holds up to quadrature error.
    case stitched
}

/// The per-voxel weights ∂T/∂Z_c(v) of a target over stitched logits Z (the mask fixed): 1 on
/// the mask for `sum`, 1/|M| for `mean`, the normalised softmax probability of the class for
/// `prob-weighted` (constants in backprop). Nil when the mask has no voxel of the class.
enum StitchedTarget {
    static func weights(mask: [Int32], classIndex c: Int, rule: TargetRule, logits: () throws -> Tensor) rethrows
        -> [Float]? {
        let target = Int32(c)
        var weights = mask.map { $0 == target ? Float(1) : 0 }
        let size = weights.reduce(0, +)
        guard size > 0 else { return nil }
        switch rule {
        case .sum:
            break
        case .mean:
            for v in weights.indices { weights[v] /= size }
        case .probWeighted:
            let p = ChannelOps.softmax(try logits())
            var norm: Double = 0
            for v in weights.indices where weights[v] > 0 {
                weights[v] = p.data[c * mask.count + v]
                norm += Double(weights[v])
            }
            for v in weights.indices { weights[v] = Float(Double(weights[v]) / norm) }
        }
        return weights
    }
}
