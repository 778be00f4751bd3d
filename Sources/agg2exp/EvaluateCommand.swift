import ArgumentParser
import Engine
import Foundation

/// Compares attribution methods on one scan with the official benchmark metrics (METHOD.md §2).
struct EvaluateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "evaluate",
        abstract: "Faithfulness, sensitivity, complexity and runtime of attribution methods on one scan.",
        discussion: """
            FaithfulnessCorrelation (higher is better): Pearson over --runs random voxel subsets, \
            shared by all methods, between the attribution inside the subset and the drop of the \
            target when the subset is set to min(x). AvgSensitivity (lower is better): mean relative \
            change of the max-normalised map under 3 uniform perturbations U[−0.1, 0.1]. \
            EffectiveComplexity (lower is sparser): fraction of voxels above 10% of max |a|. \
            Time: wall clock of one attribution.

            --model may be an nnU-Net v2 results folder (with the nnU-Net options of `explain`): the \
            metrics then run on the network grid, over nnU-Net's blended logits and its label map, \
            with the stitched window target unless --window-target says otherwise. With several \
            nnU-Net parts as --model (TotalSegmentator's `total`), each target is evaluated through \
            the part that predicts it, as `explain` explains it: that part's input and logits, and the \
            merged label map seen in its labels as the target mask (FaithfulnessCorrelation's \
            perturbed targets use that part's own argmax, as for one folder).
            """)

    @Argument(help: "CT scan (NIfTI).")
    var scan: String

    @Option(help: ArgumentHelp("Model directory (default: the bundled sample model) or nnU-Net results folder; repeat "
        + "it to list the parts of a multi-part nnU-Net model."))
    var model: [String] = []

    @Option(help: "Comma-separated methods.")
    var methods: String

    @Option(help: "Comma-separated target class names or indices.")
    var targets: String

    @OptionGroup var options: MethodOptions

    @OptionGroup var resources: ResourceOptions

    @Option(help: "Faithfulness runs (random subsets).")
    var runs = 100

    @Option(help: "Faithfulness subset size in voxels (official: 224² = 50176).")
    var subsetSize = 224 * 224

    @Option(help: "AvgSensitivity perturbed samples.")
    var sensitivitySamples = 3

    @Option(help: "Write the results as JSON.")
    var json: String?

    struct Row {
        var method: AttributionMethodKind
        var target: String
        var faithfulness: Double?
        var sensitivity: Double?
        var complexity: Double?
        var seconds: Double
    }

    @OptionGroup var compute: ThreadsOption
    @OptionGroup var windowTarget: WindowTargetOption
    @OptionGroup var nnunet: NNUNetOptions

    func run() throws {
        compute.apply()
        let kinds: [AttributionMethodKind] = try methods.split(separator: ",").map { try choice(String($0), "--methods") }
        let attributionOptions = try options.attributionOptions()
        let impls = try kinds.map { try AttributionMethods.make($0, options: attributionOptions) }
        let rule = try options.rule()
        let modelDirs = model.isEmpty ? [try defaultModelDirectory()] : model
        let loaded = try LoadedModel.load(modelDirs, nnunet: nnunet, windowTarget: windowTarget.windowTarget)
        let classes = loaded.classes
        let targetIndices = try resolveTargets(targets, classes: classes, option: "--targets")
        do {
            try OptionDomain.check(runs, "--runs", in: 2...maxCount)
            try OptionDomain.check(subsetSize, "--subset-size", in: 1...maxCount)
            try OptionDomain.check(sensitivitySamples, "--sensitivity-samples", in: 0...maxCount)
        } catch {
            throw ValidationError(error.message)
        }
        var seenKinds = Set<AttributionMethodKind>()
        if let dup = kinds.first(where: { !seenKinds.insert($0).inserted }) {
            throw ValidationError("--methods names \(dup.rawValue) twice")
        }
        try Preflight.output(json, inputs: [scan])
        try loaded.preflight(scan: scan, resources: resources) { estimate, voxels, windows in
            estimate.addFaithfulness(runs: runs, subsetSize: subsetSize, windows: windows, targets: targetIndices.count)
            for kind in kinds {
                estimate.addAttribution(kind, options: attributionOptions, modelVoxels: voxels, classes: classes.count,
                                        windows: windows, targets: targetIndices.count * (1 + sensitivitySamples))
            }
        }
        let progress = ProgressReporter()
        let prepared = try PreparedScan.load(scan, model: loaded, progress: progress)
        let faithfulness = FaithfulnessCorrelation(subsetSize: subsetSize, runs: runs, seed: attributionOptions.seed)
        let subsets = try faithfulness.subsets(voxelCount: prepared.input.count)
        let sensitivity = AvgSensitivity(samples: sensitivitySamples, bound: 0.1, seed: attributionOptions.seed)

        var present: [Int] = []
        for c in targetIndices {
            if prepared.labels.contains(Int32(c)) {
                present.append(c)
            } else {
                printError("skipping target \(classes[c]): no predicted voxels in \(scan)")
            }
        }
        guard !present.isEmpty else {
            throw DataError("none of the targets has predicted voxels in \(scan)")
        }
        // One faithfulness pass per model part over the targets it predicts.
        var deltasByTarget: [Int: [Double]] = [:]
        var groups: [(route: EvaluationRoute, targets: [Int])] = []
        for c in present {
            let route = loaded.route(c, prepared)
            if let g = groups.firstIndex(where: { $0.route.part == route.part }) {
                groups[g].targets.append(c)
            } else {
                groups.append((route, [c]))
            }
        }
        for (route, targets) in groups {
            let deltas = try faithfulness.predictionDeltas(
                model: route.model, input: route.input, classes: targets.map { loaded.route($0, prepared).label },
                subsets: subsets, progress: progress.handler("faithfulness"), cancel: nil)
            for (c, d) in zip(targets, deltas) { deltasByTarget[c] = d }
        }
        progress.finish()
        var rows: [Row] = []
        for c in present {
            let name = classes[c]
            let route = loaded.route(c, prepared)
            let (net, input, deltas) = (route.model, route.input, deltasByTarget[c]!)
            let target = SegmentTarget(classIndex: route.label, rule: rule, mask: route.mask)
            for impl in impls {
                let start = Date()
                let r = try impl.attribute(input, model: net, target: target,
                                           progress: progress.handler("\(impl.kind.rawValue) \(name)"), cancel: nil)
                let seconds = Date().timeIntervalSince(start)
                progress.finish()
                let s = try sensitivity.score(method: impl, model: net, input: input, target: target,
                                              reference: r.map,
                                              progress: progress.handler("sensitivity \(impl.kind.rawValue) \(name)"),
                                              cancel: nil)
                progress.finish()
                rows.append(Row(method: impl.kind, target: name,
                                faithfulness: FaithfulnessCorrelation.score(attribution: r.map.data, subsets: subsets,
                                                                            deltas: deltas),
                                sensitivity: s, complexity: effectiveComplexity(r.map.data), seconds: seconds))
            }
        }
        print(Self.render(rows, kinds: kinds), terminator: "")
        if let json {
            try writeText(Self.json(rows, kinds: kinds, scan: scan, model: modelDirs.joined(separator: ","), runs: runs,
                                    subsetSize: subsetSize,
                                    samples: sensitivitySamples), to: json)
        }
    }

    static func mean(_ values: [Double?]) -> Double? {
        let v = values.compactMap { $0 }
        return v.isEmpty ? nil : v.reduce(0, +) / Double(v.count)
    }

    static func render(_ rows: [Row], kinds: [AttributionMethodKind]) -> String {
        func f(_ v: Double?, _ format: String = "%.3f") -> String { v.map { String(format: format, $0) } ?? "—" }
        let header = "method".padding(toLength: 22, withPad: " ", startingAt: 0)
            + "faithfulness↑".leftPadded(14) + "sensitivity↓".leftPadded(14) + "complexity↓".leftPadded(13)
            + "time s↓".leftPadded(10) + "\n"
        var out = "mean over targets\n" + header
        for k in kinds {
            let r = rows.filter { $0.method == k }
            out += k.rawValue.padding(toLength: 22, withPad: " ", startingAt: 0)
            out += f(mean(r.map(\.faithfulness))).leftPadded(14) + f(mean(r.map(\.sensitivity))).leftPadded(14)
            out += f(mean(r.map(\.complexity))).leftPadded(13) + f(mean(r.map(\.seconds)), "%.2f").leftPadded(10) + "\n"
        }
        var seen = Set<String>()
        for t in rows.map(\.target) where seen.insert(t).inserted {
            out += "\ntarget \(t)\n" + header
            for r in rows where r.target == t {
                out += r.method.rawValue.padding(toLength: 22, withPad: " ", startingAt: 0)
                out += f(r.faithfulness).leftPadded(14) + f(r.sensitivity).leftPadded(14)
                out += f(r.complexity).leftPadded(13) + f(r.seconds, "%.2f").leftPadded(10) + "\n"
            }
        }
        return out
    }

    static func json(_ rows: [Row], kinds: [AttributionMethodKind], scan: String, model: String, runs: Int,
                     subsetSize: Int, samples: Int) -> String {
        func entry(_ r: Row) -> String {
            "{\"method\": \(JSONText.string(r.method.rawValue)), \"target\": \(JSONText.string(r.target)), "
                + "\"faithfulness\": \(JSONText.number(r.faithfulness)), \"sensitivity\": \(JSONText.number(r.sensitivity)), "
                + "\"complexity\": \(JSONText.number(r.complexity)), \"seconds\": \(JSONText.number(r.seconds))}"
        }
        let summary = kinds.map { k -> String in
            let r = rows.filter { $0.method == k }
            return "  \(JSONText.string(k.rawValue)): {\"faithfulness\": \(JSONText.number(mean(r.map(\.faithfulness)))), "
                + "\"sensitivity\": \(JSONText.number(mean(r.map(\.sensitivity)))), "
                + "\"complexity\": \(JSONText.number(mean(r.map(\.complexity)))), "
                + "\"seconds\": \(JSONText.number(mean(r.map(\.seconds))))}"
        }
        return "{\"scan\": \(JSONText.string(scan)), \"model\": \(JSONText.string(model)),\n"
            + " \"settings\": {\"faithfulness_runs\": \(runs), \"faithfulness_subset_size\": \(subsetSize), "
            + "\"faithfulness_baseline\": \"min\", \"sensitivity_samples\": \(samples), \"sensitivity_bound\": 0.1, "
            + "\"complexity_eps\": 0.1},\n"
            + " \"summary\": {\n" + summary.joined(separator: ",\n") + "\n },\n"
            + " \"results\": [\n  " + rows.map(entry).joined(separator: ",\n  ") + "\n]}\n"
    }
}

/// What one target is evaluated through: the model part that predicts it, that part's input, the
/// target's label there and the label map in that part's labels (for a model.json model, the
/// model, its input and the prediction unchanged).
struct EvaluationRoute {
    var part: Int
    var model: any ExplainableModel
    var input: Tensor
    var label: Int
    var mask: [Int32]
}

extension LoadedModel {
    /// The route of class `c` of a prepared scan; nnU-Net targets go through the part that
    /// predicts them, as `explain` takes them (background through the first part).
    func route(_ c: Int, _ prepared: PreparedScan) -> EvaluationRoute {
        switch self {
        case .monai(let m):
            return EvaluationRoute(part: 0, model: m, input: prepared.input, label: c, mask: prepared.labels)
        case .nnunet(let parts, _):
            guard case .nnunet(let inputs) = prepared.mapping else { preconditionFailure("scan prepared for another model") }
            let (p, label) = parts.part(predicting: c) ?? (part: 0, label: 0)
            return EvaluationRoute(part: p, model: parts.parts[p], input: inputs[p].tensor, label: label,
                                   mask: parts.labels(prepared.labels, inPart: p))
        }
    }
}
