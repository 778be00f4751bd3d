import Foundation
import Engine

/// Everything that changes an attribution map besides method and target: the method options and
/// the target rule. Part of `AnalysisKey`, so each setting has its own cache entry.
public struct MethodSettings: Hashable, Sendable {
    public var options: AttributionOptions
    public var rule: TargetRule

    public init(options: AttributionOptions = AttributionOptions(), rule: TargetRule = .sum) {
        self.options = options
        self.rule = rule
    }

    /// These settings with every option `method` does not read reset to its default, so that
    /// changing IG's steps does not make the gradient map look new. Methods agg2exp does not know
    /// (imported maps) have no settings at all.
    public func normalised(for method: String) -> MethodSettings {
        guard let kind = AttributionMethodKind(rawValue: method) else { return MethodSettings() }
        let o = options
        var out = MethodSettings(rule: rule)
        switch kind {
        case .gradient, .inputXGradient:
            break
        case .integratedGradients:
            out.options.steps = o.steps
            out.options.baseline = o.baseline
            out.options.scheme = o.scheme
        case .smoothgrad:
            out.options.samples = o.samples
            out.options.noiseLevel = o.noiseLevel
            out.options.seed = o.seed
        case .occlusion:
            out.options.occlusionSize = o.occlusionSize
            out.options.occlusionStride = o.occlusionStride
            out.options.baseline = o.baseline
        case .kernelshap:
            out.options.samples = o.samples
            out.options.features = o.features
            out.options.seed = o.seed
        }
        return out
    }
}

/// One editable row of the method options panel: what it changes and the values ←/→ step through.
public enum MethodOption: String, CaseIterable, Sendable {
    case rule, steps, baseline, scheme, samples, noiseLevel, seed, features, cubeSize, stride

    /// The options `method` reads, in panel order (the target rule first: every method has one).
    public static func rows(for method: String) -> [MethodOption] {
        guard let kind = AttributionMethodKind(rawValue: method) else { return [] }
        switch kind {
        case .gradient, .inputXGradient: return [.rule]
        case .integratedGradients: return [.rule, .steps, .baseline, .scheme]
        case .smoothgrad: return [.rule, .samples, .noiseLevel, .seed]
        case .occlusion: return [.rule, .cubeSize, .stride, .baseline]
        case .kernelshap: return [.rule, .samples, .features, .seed]
        }
    }

    public var title: String {
        switch self {
        case .rule: return "target rule"
        case .steps: return "steps"
        case .baseline: return "baseline"
        case .scheme: return "scheme"
        case .samples: return "samples"
        case .noiseLevel: return "noise σ"
        case .seed: return "seed"
        case .features: return "features"
        case .cubeSize: return "cube size"
        case .stride: return "stride"
        }
    }

    static let stepValues = [1, 2, 5, 10, 16, 20, 32, 50, 64, 100, 128, 200]
    static let smoothgradSamples = [1, 5, 10, 20, 50, 100, 200]
    static let shapSamples = [20, 50, 100, 200, 500, 1000, 2000]
    static let noiseLevels = [0.01, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5]
    static let cubeSizes = [4, 8, 12, 16, 24, 32, 48, 64]

    /// The value shown in the panel for `method`.
    public func value(in s: MethodSettings, method: String) -> String {
        let o = s.options
        switch self {
        case .rule: return s.rule.rawValue
        case .steps: return "\(o.steps)"
        case .baseline: return o.baseline.description
        case .scheme: return o.scheme.rawValue
        case .samples: return "\(o.sampleCount(for: AttributionMethodKind(rawValue: method) ?? .smoothgrad))"
        case .noiseLevel: return "\(o.noiseLevel)"
        case .seed: return "\(o.seed)"
        case .features: return o.features.rawValue
        case .cubeSize: return "\(o.occlusionSize)"
        case .stride: return "\(o.occlusionStride)"
        }
    }

    /// `s` with this option one step up (+1) or down (−1); choices wrap, numbers stop at the ends
    /// of their list (a number off the list moves to its nearest neighbour in that direction).
    public func step(_ s: MethodSettings, by delta: Int, method: String) -> MethodSettings {
        var s = s
        func cycle<T: Equatable>(_ all: [T], _ v: T) -> T {
            let i = all.firstIndex(of: v) ?? 0
            return all[((i + delta) % all.count + all.count) % all.count]
        }
        func along(_ values: [Int], _ v: Int) -> Int {
            if delta > 0 { return values.first { $0 > v } ?? values.last! }
            return values.last { $0 < v } ?? values.first!
        }
        switch self {
        case .rule: s.rule = cycle(TargetRule.allCases, s.rule)
        case .steps: s.options.steps = along(Self.stepValues, s.options.steps)
        case .baseline:
            // The panel offers the two named baselines; a number comes from the command line.
            let named: [Baseline] = [.zeros, .min]
            s.options.baseline = named.contains(s.options.baseline) ? cycle(named, s.options.baseline) : .zeros
        case .scheme: s.options.scheme = cycle(IntegrationScheme.allCases, s.options.scheme)
        case .samples:
            let kind = AttributionMethodKind(rawValue: method) ?? .smoothgrad
            let values = kind == .kernelshap ? Self.shapSamples : Self.smoothgradSamples
            s.options.samples = along(values, s.options.sampleCount(for: kind))
        case .noiseLevel:
            let v = s.options.noiseLevel
            s.options.noiseLevel = delta > 0 ? Self.noiseLevels.first { $0 > v + 1e-9 } ?? Self.noiseLevels.last!
                : Self.noiseLevels.last { $0 < v - 1e-9 } ?? Self.noiseLevels.first!
        case .seed: s.options.seed = delta > 0 ? s.options.seed &+ 1 : (s.options.seed == 0 ? 0 : s.options.seed - 1)
        case .features: s.options.features = cycle(ShapFeatures.allCases, s.options.features)
        case .cubeSize: s.options.occlusionSize = along(Self.cubeSizes, s.options.occlusionSize)
        case .stride: s.options.occlusionStride = along(Self.cubeSizes, s.options.occlusionStride)
        }
        return s
    }
}

/// The `agg2exp explain` command that computes the map the explorer shows, so a view can be
/// pasted into a batch. Every option the method reads is written out, defaults included, so the
/// line stays right if the defaults change.
public enum ExplainCommandLine {
    /// - Parameters:
    ///   - scan: the scan path; `modelArguments`: `--model DIR` (repeated for model parts) and the
    ///     model options, one word each (empty: the bundled sample model).
    public static func make(scan: String, modelArguments: [String], method: String, target: String,
                            settings: MethodSettings, processing: AttributionProcessing) -> String {
        var words = ["agg2exp", "explain", quote(scan)] + modelArguments.map(quote)
        words += ["--target", quote(target), "--method", method]
        let s = settings.normalised(for: method)
        let o = s.options
        let kind = AttributionMethodKind(rawValue: method)
        for option in MethodOption.rows(for: method) {
            switch option {
            case .rule: words += ["--target-rule", s.rule.rawValue]
            case .steps: words += ["--steps", "\(o.steps)"]
            case .baseline: words += ["--baseline", o.baseline.description]
            case .scheme: words += ["--scheme", o.scheme.rawValue]
            case .samples: words += ["--samples", "\(o.sampleCount(for: kind ?? .smoothgrad))"]
            case .noiseLevel: words += ["--noise-level", "\(o.noiseLevel)"]
            case .seed: words += ["--seed", "\(o.seed)"]
            case .features: words += ["--features", o.features.rawValue]
            case .cubeSize: words += ["--cube-size", "\(o.occlusionSize)"]
            case .stride: words += ["--stride", "\(o.occlusionStride)"]
            }
        }
        words += ["--process", processing.rawValue]
        return words.joined(separator: " ")
    }

    /// Single-quotes a word for a POSIX shell when it holds anything but safe characters.
    static func quote(_ s: String) -> String {
        let safe = CharacterSet(charactersIn: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./=:,+@%")
        if !s.isEmpty, s.unicodeScalars.allSatisfy(safe.contains) { return s }
        return "'" + s.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }
}
