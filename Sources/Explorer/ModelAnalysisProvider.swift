import Foundation
import Engine

/// The engine behind the explorer: prediction, attribution methods and Agg²Exp aggregation for
/// one preprocessed scan and one explainable model.
///
/// Everything lives on the model grid (the scan reoriented and resampled as the model expects),
/// so CT, prediction, label map and attribution line up voxel for voxel.
public final class ModelAnalysisProvider: AnalysisProvider, @unchecked Sendable {
    public let methods: [String]
    public let classNames: [String]
    public let modelDescription: String
    private let model: any ExplainableModel
    /// The preprocessed input [1, I, J, K] (C order) on `grid`.
    private let input: Tensor
    private let grid: Grid
    private let options: AttributionOptions
    private let rule: TargetRule
    private let lock = NSLock()
    /// The clean prediction in C order, computed once: every method's target mask comes from it.
    private var predictionMask: [Int32]?

    /// - Parameters:
    ///   - preprocessed: the model input volume (intensities already windowed).
    ///   - methods: method kinds offered, in the order `m` cycles through them.
    public init(model: any ExplainableModel, classNames: [String], description: String, preprocessed: Volume,
                methods: [AttributionMethodKind] = AttributionMethodKind.allCases,
                options: AttributionOptions = AttributionOptions(), rule: TargetRule = .sum) {
        self.model = model
        self.classNames = classNames
        modelDescription = description
        input = Tensor(volume: preprocessed)
        grid = preprocessed.grid
        self.methods = methods.map(\.rawValue)
        self.options = options
        self.rule = rule
    }

    public func predict(progress: @escaping ProgressHandler, cancel: CancellationToken) throws -> LabelMap {
        LabelMap(grid: grid, labels: Self.niftiOrder(try mask(progress: progress, cancel: cancel), dims: grid.dims))
    }

    private func mask(progress: ProgressHandler?, cancel: CancellationToken) throws -> [Int32] {
        if let m = lock.withLock({ predictionMask }) { return m }
        let m = TargetFunction.argmax(try model.logits(input, progress: progress, cancel: cancel))
        lock.withLock { predictionMask = m }
        return m
    }

    public func attribute(method: String, target: Int,
                          progress: @escaping ProgressHandler, cancel: CancellationToken) throws -> AttributionDisplay {
        guard let kind = AttributionMethodKind(rawValue: method) else {
            throw AttributionError.invalidOption("unknown method '\(method)'")
        }
        let hasMask = lock.withLock { predictionMask != nil }
        // Without a cached prediction the first tenth of the bar is the clean forward pass.
        let head: ProgressHandler = { f in progress(0.1 * f) }
        let mask = try self.mask(progress: hasMask ? nil : head, cancel: cancel)
        let tail: ProgressHandler = { f in progress(0.1 + 0.9 * f) }
        let scaled: ProgressHandler = hasMask ? progress : tail
        let target = SegmentTarget(classIndex: target, rule: rule, mask: mask)
        let result = try AttributionMethods.make(kind, options: options)
            .attribute(input, model: model, target: target, progress: scaled, cancel: cancel)
        let map = result.map.volume(channel: 0, grid: grid)
        var details: [(String, String)] = [("target rule", rule.rawValue)]
        details += optionDetails(kind)
        if let t = result.targetValue { details.append(("T(x)", String(format: "%.6g", t))) }
        if let d = result.completenessDelta { details.append(("completeness delta", String(format: "%.6g", d))) }
        return AttributionDisplay(map: map, details: details)
    }

    /// The options that `kind` actually uses, for the report's provenance.
    private func optionDetails(_ kind: AttributionMethodKind) -> [(String, String)] {
        switch kind {
        case .gradient, .inputXGradient:
            return []
        case .integratedGradients:
            return [("steps", "\(options.steps)"), ("baseline", options.baseline.description),
                    ("scheme", options.scheme.rawValue)]
        case .smoothgrad:
            return [("samples", "\(options.sampleCount(for: kind))"), ("noise level", "\(options.noiseLevel)"),
                    ("seed", "\(options.seed)")]
        case .occlusion:
            return [("cube size", "\(options.occlusionSize)"), ("stride", "\(options.occlusionStride)"),
                    ("baseline", options.baseline.description)]
        case .kernelshap:
            return [("samples", "\(options.sampleCount(for: kind))"), ("features", options.features.rawValue),
                    ("seed", "\(options.seed)")]
        }
    }

    public func rank(attribution: Volume, segments: LabelMap, processing: AttributionProcessing,
                     names: [Int32: String]) -> [SegmentScore] {
        (try? Aggregation.scores(attribution: attribution.voxels, segments: segments.labels, processing: processing,
                                 names: { names[$0] ?? "label \($0)" })) ?? []
    }

    /// C order [I, J, K] (K fastest) → NIfTI order (i fastest).
    static func niftiOrder(_ c: [Int32], dims: [Int]) -> [Int32] {
        let (ni, nj, nk) = (dims[0], dims[1], dims[2])
        var out = [Int32](repeating: 0, count: c.count)
        for i in 0..<ni {
            for j in 0..<nj {
                let row = (i * nj + j) * nk
                for k in 0..<nk { out[i + ni * (j + nj * k)] = c[row + k] }
            }
        }
        return out
    }
}
