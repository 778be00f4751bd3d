import Foundation

extension LabelMap {
    /// Labels in the C order of a [1, I, J, K] tensor on the same grid (K fastest), the layout
    /// attribution maps and logits use.
    public var labelsInTensorOrder: [Int32] {
        let (ni, nj, nk) = (grid.dims[0], grid.dims[1], grid.dims[2])
        var out = [Int32](repeating: 0, count: labels.count)
        for k in 0..<nk {
            for j in 0..<nj {
                let src = ni * (j + nj * k)
                for i in 0..<ni { out[(i * nj + j) * nk + k] = labels[src + i] }
            }
        }
        return out
    }
}

/// RoIs to aggregate over, in tensor order on the model grid: the clean prediction by default,
/// or a custom label map with its own names; optionally joined groups of labels.
public struct RoISet: Sendable {
    public var labels: [Int32]
    /// The labels to report (in this order); labels absent from the map are reported as empty.
    public var reported: [Int32]
    public var names: [Int32: String]
    public var groups: [RoIGroup]

    public init(labels: [Int32], reported: [Int32], names: [Int32: String], groups: [RoIGroup] = []) {
        self.labels = labels
        self.reported = reported
        self.names = names
        self.groups = groups
    }

    public func name(_ label: Int32) -> String { names[label] ?? "label_\(label)" }
}

/// One explained target: its attribution and Agg²Exp scores.
public struct Explanation: Sendable {
    public var method: AttributionMethodKind
    public var options: AttributionOptions
    public var classIndex: Int
    public var className: String
    public var rule: TargetRule
    public var processing: AttributionProcessing
    public var result: AttributionResult
    /// |M_c| in the clean prediction; 0 means the target is undefined and the masses are nil.
    public var targetVoxels: Int
    /// Scores per reported RoI, then per group, in RoI order (use `Aggregation.ranked` to sort).
    public var scores: [SegmentScore]
    /// Mean and population variance of the raw signed map.
    public var signedMean: Double
    public var signedVariance: Double

    public var isEmptyTarget: Bool { targetVoxels == 0 }
}

public enum Explainer {
    /// Explains class `classIndex` of `input` (preprocessed [1, I, J, K]) over `prediction`
    /// (the clean argmax in tensor order, which fixes the target mask for every method).
    /// An empty target mask does not run the method: the map is zero and every mass undefined.
    public static func explain(method: any AttributionMethod, options: AttributionOptions, model: any ExplainableModel,
                               input: Tensor, prediction: [Int32], classIndex: Int, className: String,
                               rule: TargetRule, processing: AttributionProcessing, rois: RoISet,
                               progress: ProgressHandler?, cancel: CancellationToken?) throws -> Explanation {
        guard prediction.count == input.count, rois.labels.count == input.count else {
            throw AttributionError.shapeMismatch("prediction, RoIs and input must cover the same \(input.count) voxels")
        }
        let target = SegmentTarget(classIndex: classIndex, rule: rule, mask: prediction)
        let voxels = prediction.reduce(0) { $1 == Int32(classIndex) ? $0 + 1 : $0 }
        let result: AttributionResult
        if voxels == 0 {
            result = AttributionResult(map: Tensor(zeros: input.shape))
            progress?(1)
        } else {
            result = try method.attribute(input, model: model, target: target, progress: progress, cancel: cancel)
        }
        let totals = try SegmentTotals(attribution: result.map.data, segments: rois.labels, processing: processing)
        var scores = rois.reported.map { totals.score(labels: [$0], label: $0, name: rois.name($0)) }
        scores += rois.groups.map { totals.score(labels: $0.labels, label: $0.labels.first ?? -1, name: $0.name) }
        let stats = Aggregation.signedStatistics(result.map.data) ?? (0, 0)
        return Explanation(method: method.kind, options: options, classIndex: classIndex, className: className,
                           rule: rule, processing: processing, result: result, targetVoxels: voxels,
                           scores: scores, signedMean: stats.mean, signedVariance: stats.variance)
    }

    /// Explains several classes of one scan. KernelSHAP shares one set of coalitions (and model
    /// evaluations) across all of them, since each evaluation yields every class's target at once;
    /// other methods run per class.
    public static func explain(method: any AttributionMethod, options: AttributionOptions, model: any ExplainableModel,
                               input: Tensor, prediction: [Int32], classes: [(index: Int, name: String)],
                               rule: TargetRule, processing: AttributionProcessing, rois: RoISet,
                               progress: ((String) -> ProgressHandler?)?, cancel: CancellationToken?) throws -> [Explanation] {
        guard let shap = method as? KernelShap, classes.count > 1 else {
            return try classes.map { c in
                try explain(method: method, options: options, model: model, input: input, prediction: prediction,
                            classIndex: c.index, className: c.name, rule: rule, processing: processing, rois: rois,
                            progress: progress?(c.name), cancel: cancel)
            }
        }
        guard prediction.count == input.count, input.shape.count == 4 else {
            throw AttributionError.shapeMismatch("prediction and input must cover the same \(input.count) voxels")
        }
        let present = Set(prediction)
        let explained = classes.filter { present.contains(Int32($0.index)) }
        let features = try shap.featureMask(dims: Array(input.shape[1...]), prediction: prediction)
        let values = explained.isEmpty ? [] : try shap.shapleyValues(
            input, model: model, featureMask: features, mask: prediction, classes: explained.map(\.index),
            rule: rule, progress: progress?("all targets"), cancel: cancel)
        let byClass = Dictionary(uniqueKeysWithValues: zip(explained.map(\.index), values))
        return try classes.map { c in
            let precomputed = byClass[c.index].map { v in
                PrecomputedAttribution(kind: .kernelshap, result: AttributionResult(
                    map: Tensor(shape: input.shape, data: features.map { Float(v[$0] ?? 0) }), featureValues: v))
            }
            return try explain(method: precomputed ?? method, options: options, model: model, input: input,
                               prediction: prediction, classIndex: c.index, className: c.name, rule: rule,
                               processing: processing, rois: rois, progress: nil, cancel: cancel)
        }
    }

    /// The options that shape `kind`'s result, for reports.
    public static func describe(_ options: AttributionOptions, for kind: AttributionMethodKind) -> [(String, String)] {
        switch kind {
        case .gradient, .inputXGradient: return []
        case .integratedGradients:
            return [("steps", "\(options.steps)"), ("baseline", options.baseline.description),
                    ("scheme", options.scheme.rawValue)]
        case .smoothgrad:
            return [("samples", "\(options.sampleCount(for: kind))"), ("seed", "\(options.seed)"),
                    ("noise_level", "\(options.noiseLevel)")]
        case .occlusion:
            return [("cube_size", "\(options.occlusionSize)"), ("stride", "\(options.occlusionStride)"),
                    ("baseline", options.baseline.description)]
        case .kernelshap:
            var out = [("samples", "\(options.sampleCount(for: kind))"), ("seed", "\(options.seed)"),
                       ("features", options.features.rawValue)]
            if options.features == .cubes { out.append(("components", "\(options.cubeComponents)")) }
            return out
        }
    }

    /// `explain --json`: segments sorted by mass descending; undefined values are null.
    public static func json(_ e: Explanation, scan: String, model: String) -> String {
        func value(_ s: String) -> String { Double(s) != nil || Int(s) != nil ? s : JSONText.string(s) }
        let options = describe(e.options, for: e.method).map { "\(JSONText.string($0.0)): \(value($0.1))" }
        var out = "{\"scan\": \(JSONText.string(scan)), \"model\": \(JSONText.string(model)), "
        out += "\"method\": \(JSONText.string(e.method.rawValue)),\n"
        out += " \"options\": {\(options.joined(separator: ", "))},\n"
        out += " \"target\": {\"index\": \(e.classIndex), \"name\": \(JSONText.string(e.className)), "
        out += "\"rule\": \(JSONText.string(e.rule.rawValue)), \"voxels\": \(e.targetVoxels)}, "
        out += "\"process\": \(JSONText.string(e.processing.rawValue)),\n"
        if e.method == .integratedGradients {
            out += " \"completeness_delta\": \(JSONText.number(e.result.completenessDelta)),\n"
            out += " \"target_value\": \(JSONText.number(e.result.targetValue)), "
            out += "\"baseline_value\": \(JSONText.number(e.result.baselineValue)),\n"
        }
        let segments = Aggregation.ranked(e.scores).map { s in
            "  {\"label\": \(s.label), \"name\": \(JSONText.string(s.name)), \"voxels\": \(s.voxels), "
                + "\"mass\": \(JSONText.number(s.mass)), \"mean\": \(JSONText.number(s.mean))}"
        }
        out += " \"segments\": [\n" + segments.joined(separator: ",\n") + "\n]}\n"
        return out
    }

    /// One results-CSV row (official schema) from a scan's explanations and, optionally,
    /// per-class quality against ground truth.
    public static func resultValues(_ explanations: [Explanation], quality: [(name: String, ClassQuality)]?) -> [String: Double?] {
        var row: [String: Double?] = [:]
        for e in explanations {
            for s in e.scores {
                row[ResultsColumns.mass(target: e.className, roi: s.name)] = s.mass
                row[ResultsColumns.mean(target: e.className, roi: s.name)] = s.mean
            }
            row[ResultsColumns.variance(target: e.className)] = e.signedVariance
            row[ResultsColumns.signedMean(target: e.className)] = e.signedMean
        }
        for (name, q) in quality ?? [] {
            row[ResultsColumns.iou(name)] = q.iou
            row[ResultsColumns.dice(name)] = q.dice
        }
        return row
    }
}

/// A result computed elsewhere (KernelSHAP's shared coalitions), passed through the one verb.
struct PrecomputedAttribution: AttributionMethod {
    var kind: AttributionMethodKind
    var result: AttributionResult

    func attribute(_ input: Tensor, model: any ExplainableModel, target: SegmentTarget,
                   progress: ProgressHandler?, cancel: CancellationToken?) throws -> AttributionResult { result }
}
