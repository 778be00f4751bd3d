import Foundation

/// The attribution methods, named as on the command line.
public enum AttributionMethodKind: String, CaseIterable, Sendable {
    case gradient
    case inputXGradient = "input-x-gradient"
    case integratedGradients = "integrated-gradients"
    case smoothgrad
    case occlusion
    case kernelshap
}

/// What replaces the input where a method removes information (IG start point, occluded cubes).
public enum Baseline: Sendable, Hashable, CustomStringConvertible {
    /// 0 in the preprocessed [0, 1] intensity space (≤ −1024 HU), the official IG default.
    case zeros
    /// The scan's minimum, Quantus' "black" baseline.
    case min
    case value(Double)

    /// Parses `zeros`, `min` or a number.
    public init?(argument: String) {
        switch argument {
        case "zeros", "zero": self = .zeros
        case "min": self = .min
        default:
            guard let v = Double(argument), v.isFinite else { return nil }
            self = .value(v)
        }
    }

    public var description: String {
        switch self {
        case .zeros: return "zeros"
        case .min: return "min"
        case let .value(v): return "\(v)"
        }
    }

    /// The baseline value for an input.
    public func resolve(for input: Tensor) -> Float {
        switch self {
        case .zeros: return 0
        case .min: return input.data.min() ?? 0
        case let .value(v): return Float(v)
        }
    }
}

/// Quadrature for Integrated Gradients.
public enum IntegrationScheme: String, CaseIterable, Sendable {
    /// α = linspace(0, 1, m) with both ends, each weight 1/m (the official code).
    case official
    /// m-point Gauss–Legendre on [0, 1]: exact for polynomial paths of degree ≤ 2m − 1.
    case gaussLegendre = "gauss-legendre"
}

/// KernelSHAP interpretable features.
public enum ShapFeatures: String, CaseIterable, Sendable {
    /// One feature per predicted segment of the clean prediction.
    case segments
    /// The official cube tiling (METHOD.md §1.3): ids wrap modulo the component count.
    case cubes
}

/// Options shared by all methods; each method reads the ones it needs.
public struct AttributionOptions: Sendable, Hashable {
    /// IG interpolation steps.
    public var steps: Int = 20
    /// SmoothGrad noisy samples or KernelSHAP coalitions; nil = the method's default
    /// (SmoothGrad 20, KernelSHAP 200 on segments, 1000 on cubes).
    public var samples: Int?
    public var seed: UInt64 = 42
    public var baseline: Baseline = .zeros
    public var scheme: IntegrationScheme = .official
    /// SmoothGrad σ as a fraction of the input's (max − min).
    public var noiseLevel: Double = 0.1
    public var features: ShapFeatures = .segments
    /// Number of cube features for `features == .cubes`.
    public var cubeComponents: Int = 512
    /// Occlusion cube side and stride in voxels.
    public var occlusionSize: Int = 32
    public var occlusionStride: Int = 32

    public init() {}

    /// Resolved sample count for `kind`.
    public func sampleCount(for kind: AttributionMethodKind) -> Int {
        if let samples { return samples }
        switch kind {
        case .kernelshap: return features == .cubes ? 1000 : 200
        default: return 20
        }
    }
}

/// One attribution map and the scalars that explain its scale.
public struct AttributionResult: Sendable {
    /// Signed attribution [1, I, J, K], the input's shape.
    public var map: Tensor
    /// T(x) computed from logits with the fixed clean mask, when the method computed it.
    public var targetValue: Double?
    /// T(x′) at the baseline (IG).
    public var baselineValue: Double?
    /// Σa − (T(x) − T(x′)) (IG): how far the quadrature is from completeness.
    public var completenessDelta: Double?
    /// Per-feature values (KernelSHAP), keyed by feature id.
    public var featureValues: [Int32: Double]?

    public init(map: Tensor, targetValue: Double? = nil, baselineValue: Double? = nil,
                completenessDelta: Double? = nil, featureValues: [Int32: Double]? = nil) {
        self.map = map
        self.targetValue = targetValue
        self.baselineValue = baselineValue
        self.completenessDelta = completenessDelta
        self.featureValues = featureValues
    }
}

public enum AttributionError: Error, CustomStringConvertible, Equatable {
    case invalidOption(String)
    case shapeMismatch(String)
    case solverFailed(String)

    public var description: String {
        switch self {
        case let .invalidOption(m): return "invalid option: \(m)"
        case let .shapeMismatch(m): return "shape mismatch: \(m)"
        case let .solverFailed(m): return "least-squares solve failed: \(m)"
        }
    }
}

/// One verb for every method (Captum's `attribute`). Inputs are preprocessed [1, I, J, K].
public protocol AttributionMethod: Sendable {
    var kind: AttributionMethodKind { get }
    func attribute(_ input: Tensor, model: any ExplainableModel, target: SegmentTarget,
                   progress: ProgressHandler?, cancel: CancellationToken?) throws -> AttributionResult
}

public enum AttributionMethods {
    /// The method for `kind` configured by `options`; throws on options it cannot run with.
    public static func make(_ kind: AttributionMethodKind, options: AttributionOptions) throws -> any AttributionMethod {
        switch kind {
        case .gradient: return VanillaGradient()
        case .inputXGradient: return InputXGradient()
        case .integratedGradients:
            guard options.steps >= 1 else { throw AttributionError.invalidOption("--steps must be ≥ 1") }
            return IntegratedGradients(steps: options.steps, baseline: options.baseline, scheme: options.scheme)
        case .smoothgrad:
            let n = options.sampleCount(for: kind)
            guard n >= 1 else { throw AttributionError.invalidOption("--samples must be ≥ 1") }
            guard options.noiseLevel >= 0 else { throw AttributionError.invalidOption("noise level must be ≥ 0") }
            return SmoothGrad(samples: n, noiseLevel: options.noiseLevel, seed: options.seed)
        case .occlusion:
            guard options.occlusionSize >= 1, options.occlusionStride >= 1 else {
                throw AttributionError.invalidOption("occlusion cube size and stride must be ≥ 1")
            }
            return Occlusion(size: options.occlusionSize, stride: options.occlusionStride, baseline: options.baseline)
        case .kernelshap:
            let n = options.sampleCount(for: kind)
            guard n >= 2 else { throw AttributionError.invalidOption("--samples must be ≥ 2 for KernelSHAP") }
            guard options.cubeComponents >= 1 else { throw AttributionError.invalidOption("cube components must be ≥ 1") }
            return KernelShap(samples: n, features: options.features, cubeComponents: options.cubeComponents,
                              seed: options.seed)
        }
    }
}
