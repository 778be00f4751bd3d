import Foundation
import Engine

/// How long a job is expected to take, and what the number rests on.
public struct RuntimeEstimate: Equatable, Sendable {
    public var seconds: Double
    /// e.g. "20 gradient passes × 4.6 s + 2 forward passes × 2.1 s, measured here".
    public var basis: String
    /// False while the gradient pass cost is still derived from the forward pass.
    public var measured: Bool

    public init(seconds: Double, basis: String, measured: Bool) {
        self.seconds = seconds
        self.basis = basis
        self.measured = measured
    }
}

/// Whole-volume network passes a method makes (each pass covers every sliding window).
public struct PassCount: Equatable, Sendable {
    public var forward: Int
    public var gradient: Int

    public init(forward: Int, gradient: Int) {
        self.forward = forward
        self.gradient = gradient
    }

    /// The passes of `kind` with `options` on a volume of `dims` voxels, given the clean prediction
    /// (the explorer computes it first, and every method reuses it).
    public static func of(_ kind: AttributionMethodKind, options: AttributionOptions, dims: [Int]) -> PassCount {
        switch kind {
        case .gradient, .inputXGradient:
            return PassCount(forward: 0, gradient: 1)
        case .integratedGradients:
            // The clean target value and the baseline's, plus one gradient per step.
            return PassCount(forward: 2, gradient: options.steps)
        case .smoothgrad:
            return PassCount(forward: 0, gradient: options.sampleCount(for: kind))
        case .occlusion:
            let positions = dims.map {
                Occlusion.starts(dim: $0, size: options.occlusionSize, stride: options.occlusionStride).count
            }.reduce(1, *)
            return PassCount(forward: positions + 1, gradient: 0)
        case .kernelshap:
            // At most one pass per coalition (repeated coalitions are not passed again).
            return PassCount(forward: max(2, options.sampleCount(for: kind)), gradient: 0)
        }
    }
}

/// Seconds per whole-volume forward and gradient pass of one model on one grid, measured on this
/// machine and kept in `pass-costs.json` beside the attribution cache, so the first estimate of
/// a later run is already a measured one.
public final class PassCostBook: @unchecked Sendable {
    /// Stands in for an unmeasured gradient pass: forward plus backward, about twice a forward pass.
    public static let gradientPerForward = 2.0
    public static let fileName = "pass-costs.json"

    private struct Costs: Codable {
        var forward: Double?
        var gradient: Double?
    }

    private let file: URL?
    private let key: String
    private let lock = NSLock()
    private var costs = Costs()

    /// - Parameters:
    ///   - directory: where `pass-costs.json` lives (nil: measurements last for this run only).
    ///   - key: names the model and grid the costs belong to.
    public init(directory: URL?, key: String) {
        file = directory?.appendingPathComponent(Self.fileName)
        self.key = key
        if let file, let data = try? Data(contentsOf: file),
           let all = try? JSONDecoder().decode([String: Costs].self, from: data), let mine = all[key] {
            costs = mine
        }
    }

    public var forward: Double? { lock.withLock { costs.forward } }
    public var gradient: Double? { lock.withLock { costs.gradient } }

    /// Learns from a job of `passes` that took `seconds`: a pass kind it made alone is measured
    /// directly; gradient passes mixed with forward ones are what is left after the known forward cost.
    public func record(_ passes: PassCount, seconds: Double) {
        guard seconds.isFinite, seconds > 0, passes.forward + passes.gradient > 0 else { return }
        lock.withLock {
            if passes.gradient == 0 {
                costs.forward = seconds / Double(passes.forward)
            } else if passes.forward == 0 {
                costs.gradient = seconds / Double(passes.gradient)
            } else if let f = costs.forward {
                let left = seconds - Double(passes.forward) * f
                if left > 0 { costs.gradient = left / Double(passes.gradient) }
            }
        }
        save()
    }

    /// The runtime of `passes` at the costs known so far (nil before any pass was measured).
    public func estimate(_ passes: PassCount) -> RuntimeEstimate? {
        let (f, g) = lock.withLock { (costs.forward, costs.gradient) }
        guard let perGradient = g ?? f.map({ $0 * Self.gradientPerForward }) else { return nil }
        let perForward = f ?? perGradient / Self.gradientPerForward
        let seconds = Double(passes.forward) * perForward + Double(passes.gradient) * perGradient
        var parts: [String] = []
        if passes.gradient > 0 {
            parts.append("\(passes.gradient) gradient pass\(passes.gradient == 1 ? "" : "es") × "
                         + Self.duration(perGradient))
        }
        if passes.forward > 0 {
            parts.append("\(passes.forward) forward pass\(passes.forward == 1 ? "" : "es") × " + Self.duration(perForward))
        }
        let measured = passes.gradient == 0 ? f != nil : g != nil
        let note = measured ? "measured here" : "gradient pass taken as 2 forward passes until one is measured"
        return RuntimeEstimate(seconds: seconds, basis: parts.joined(separator: " + ") + ", " + note, measured: measured)
    }

    /// Merges this model's costs into the shared file (atomically; other models' entries stay).
    private func save() {
        guard let file else { return }
        let mine = lock.withLock { costs }
        var all = (try? Data(contentsOf: file)).flatMap { try? JSONDecoder().decode([String: Costs].self, from: $0) } ?? [:]
        all[key] = mine
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        guard let data = try? encoder.encode(all) else { return }
        try? FileManager.default.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
        // Estimates are a convenience: a file that cannot be written only means measuring again.
        try? AtomicFile.write(data, to: file.path)
    }

    /// "0.065 s", "4.6 s", "42 s", "4 min 10 s", "2 h 05 min".
    public static func duration(_ s: Double) -> String {
        if s < 1 { return String(format: "%.2g s", s) }
        if s < 10 { return String(format: "%.1f s", s) }
        if s < 60 { return String(format: "%.0f s", s) }
        if s < 3600 { return String(format: "%d min %02d s", Int(s) / 60, Int(s) % 60) }
        return String(format: "%d h %02d min", Int(s) / 3600, Int(s) % 3600 / 60)
    }
}
