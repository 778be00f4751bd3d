import ArgumentParser
import Engine
import Foundation

/// Attribution options shared by `explain` and `aggregate`.
struct MethodOptions: ParsableArguments {
    @Option(help: "Integrated Gradients steps.")
    var steps = 20

    @Option(help: "SmoothGrad noisy samples or KernelSHAP coalitions (default 20; KernelSHAP 200 on segments, 1000 on cubes).")
    var samples: Int?

    @Option(help: "SmoothGrad noise σ as a fraction of the input's range (max − min).")
    var noiseLevel = 0.1

    @Option(help: "Seed of SmoothGrad noise and KernelSHAP coalitions.")
    var seed: UInt64 = 42

    @Option(help: "Baseline for IG and occlusion: zeros, min or a value in the preprocessed intensity range.")
    var baseline = "zeros"

    @Option(help: "IG quadrature: official (linspace with both ends, weights 1/steps) or gauss-legendre.")
    var scheme = "official"

    @Option(help: "KernelSHAP features: segments (the predicted segments) or cubes (512 official cubes).")
    var features = "segments"

    @Option(help: "Occlusion cube side in voxels.")
    var cubeSize = 32

    @Option(help: "Occlusion stride in voxels.")
    var stride = 32

    @Option(help: "Target rule: sum, mean or prob-weighted.")
    var targetRule = "sum"

    @Option(help: "Post-processing before aggregation: abs, pos or neg.")
    var process = "abs"

    func attributionOptions() throws -> AttributionOptions {
        do {
            try OptionDomain.check(steps, "--steps", in: 1...maxCount)
            if let samples { try OptionDomain.check(samples, "--samples", in: 1...maxCount) }
            try OptionDomain.check(cubeSize, "--cube-size", in: 1...4096)
            try OptionDomain.check(stride, "--stride", in: 1...4096)
        } catch {
            throw ValidationError(error.message)
        }
        guard noiseLevel.isFinite, (0...10).contains(noiseLevel) else {
            throw ValidationError("--noise-level must be between 0 and 10, not \(noiseLevel)")
        }
        var o = AttributionOptions()
        o.steps = steps
        o.samples = samples
        o.seed = seed
        o.noiseLevel = noiseLevel
        guard let b = Baseline(argument: baseline) else {
            throw ValidationError("--baseline must be zeros, min or a number, not \"\(baseline)\"")
        }
        o.baseline = b
        o.scheme = try choice(scheme, "--scheme")
        o.features = try choice(features, "--features")
        o.occlusionSize = cubeSize
        o.occlusionStride = stride
        return o
    }

    func rule() throws -> TargetRule { try choice(targetRule, "--target-rule") }
    func processing() throws -> AttributionProcessing { try choice(process, "--process") }
}

/// `--window-target`, for the commands that take input gradients through sliding windows.
struct WindowTargetOption: ParsableArguments {
    @Option(help: ArgumentHelp("What the gradient differentiates with overlapping windows: per-window (each window's "
        + "own target, the official Agg²Exp semantics; default for model.json models) or stitched (the target over "
        + "the blended output; default for nnU-Net folders; IG completeness holds).", valueName: "per-window|stitched"))
    var windowTarget: String?
}

/// Parses one of an enum's raw values or names the valid ones.
func choice<T: RawRepresentable & CaseIterable>(_ text: String, _ option: String) throws -> T where T.RawValue == String {
    guard let v = T(rawValue: text) else {
        throw ValidationError("\(option) must be one of \(T.allCases.map(\.rawValue).joined(separator: ", ")), not \"\(text)\"")
    }
    return v
}

/// A scan loaded, preprocessed into the model grid and segmented.
struct PreparedScan {
    var path: String
    /// File name without .nii/.nii.gz, the `patient` id in results CSVs.
    var id: String
    var scanGrid: Grid
    var modelGrid: Grid
    var input: Tensor
    var prediction: LabelMap
    /// The prediction in tensor order.
    var labels: [Int32]
    /// How the scan's grid maps onto the model grid.
    var mapping: Mapping
    /// nnU-Net's own label map on the scan's grid (its logits resampled back before the argmax),
    /// when `load` was asked for it.
    var scanLabels: LabelMap?

    enum Mapping {
        /// MONAI preprocessing: reorientation, then nearest-neighbour spacing.
        case monai(PreprocessingConfig)
        /// nnU-Net's permutation and crop (and TotalSegmentator's zoom); one input per model part,
        /// all on the same network grid.
        case nnunet([NNUNetInput])
    }

    static func patientID(_ path: String) -> String {
        var name = URL(fileURLWithPath: path).lastPathComponent
        for ext in [".nii.gz", ".nii"] where name.hasSuffix(ext) { name.removeLast(ext.count) }
        return name
    }

    /// `scanLabels` also computes nnU-Net's label map on the scan's grid (for `segment`).
    static func load(_ path: String, model: LoadedModel, progress: ProgressReporter,
                     scanLabels: Bool = false) throws -> PreparedScan {
        let scan = try NIfTI.readVolume(path)
        let handler = progress.handler("segment \(patientID(path))")
        switch model {
        case .monai(let net):
            let pre = net.preprocess(scan)
            let input = Tensor(volume: pre)
            let (_, labels) = try net.predict(pre, progress: handler, cancel: nil)
            progress.finish()
            return PreparedScan(path: path, id: patientID(path), scanGrid: scan.grid, modelGrid: pre.grid,
                                input: input, prediction: labels, labels: labels.labelsInTensorOrder,
                                mapping: .monai(net.preprocessing))
        case .nnunet(let parts, let totalSegmentator):
            let inputs = try parts.parts.map { part in
                totalSegmentator ? try part.pipeline.prepareAsTotalSegmentator(scan, scanPath: path)
                    : try part.pipeline.prepare(scan, scanPath: path)
            }
            // nnU-Net's own network-grid label maps (float16 blending), merged: the segments `segment --grid model`
            // writes (and, when nnU-Net does not resample, those `segment` writes on the scan grid).
            var partLabels: [[Int32]] = []
            var partSourceLabels: [[Int32]] = []
            for (n, (part, input)) in zip(parts.parts, inputs).enumerated() {
                let count = Double(inputs.count)
                let partProgress: ProgressHandler? = handler.map { h in { @Sendable f in h((Double(n) + f) / count) } }
                let logits = try part.pipeline.networkLogits(input, progress: partProgress)
                partLabels.append(part.pipeline.networkLabels(logits, count: input.tensor.count))
                if scanLabels { partSourceLabels.append(part.pipeline.sourceLabels(input, logits: logits)) }
            }
            let labels = parts.merge(partLabels)
            progress.finish()
            let input = inputs[0]
            let grid = input.grid
            let prediction = Tensor(shape: input.tensor.shape, data: labels.map(Float.init)).volume(channel: 0, grid: grid)
            return PreparedScan(path: path, id: patientID(path), scanGrid: scan.grid, modelGrid: grid,
                                input: input.tensor,
                                prediction: LabelMap(grid: grid, labels: prediction.voxels.map { Int32($0) }),
                                labels: labels, mapping: .nnunet(inputs),
                                scanLabels: scanLabels ? input.labelMapOnScan(parts.merge(partSourceLabels)) : nil)
        }
    }

    /// A label map drawn on the scan, brought into the model grid (orientation, then nearest-
    /// neighbour spacing; for nnU-Net models its permutation and crop), in tensor order. Throws
    /// when it is not on the scan's grid.
    func labelsInModelGrid(_ labelPath: String) throws -> [Int32] {
        let map = try NIfTI.readLabelMap(labelPath)
        try map.ensureOnGrid(of: scanGrid, labelPath: labelPath, scanPath: path)
        let config: PreprocessingConfig
        switch mapping {
        case .nnunet(let inputs): return inputs[0].fromScanGrid(map)
        case .monai(let c): config = c
        }
        var moved = map.reoriented(to: config.orientation)
        if !zip(moved.grid.spacing, config.spacing).allSatisfy({ abs($0 - $1) <= 1e-3 }) {
            moved = moved.resampled(toSpacing: config.spacing)
        }
        guard moved.grid.matches(modelGrid) else {
            throw DataError("label map \(labelPath) does not land on the model grid of \(path): "
                                  + "\(moved.grid.summary) vs \(modelGrid.summary)")
        }
        return moved.labelsInTensorOrder
    }

    /// An attribution map [1, model grid] as a volume on `grid`.
    func volume(_ map: Tensor, on grid: OutputGrid) -> Volume {
        let onModel = map.volume(channel: 0, grid: modelGrid)
        guard grid == .scan, case .nnunet(let inputs) = mapping else { return onModel }
        return inputs[0].onScanGrid(map.data)
    }
}

/// Progress bars on stderr, drawn only when stderr is a terminal.
final class ProgressReporter: @unchecked Sendable {
    private let enabled = isatty(STDERR_FILENO) == 1
    private let lock = NSLock()
    private var last = -1

    func handler(_ label: String) -> ProgressHandler? {
        guard enabled else { return nil }
        lock.withLock { last = -1 }
        return { [self] fraction in
            let percent = Int((min(max(fraction, 0), 1) * 100).rounded(.down))
            lock.withLock {
                guard percent != last else { return }
                last = percent
                let filled = percent * 30 / 100
                let bar = String(repeating: "█", count: filled) + String(repeating: "·", count: 30 - filled)
                FileHandle.standardError.write(Data("\r\(label) \(bar) \(percent)%".utf8))
            }
        }
    }

    func finish() {
        guard enabled else { return }
        FileHandle.standardError.write(Data("\r\u{1B}[K".utf8))
    }
}

/// Resolves a class given by name or index; the error lists the valid names.
func resolveClass(_ text: String, classes: [String]) throws -> Int {
    if let i = classes.firstIndex(of: text) { return i }
    if let i = Int(text), i >= 0, i < classes.count { return i }
    throw GlobalStatisticsError.unknownTarget(name: text, valid: classes)
}

func defaultModelDirectory() throws -> String {
    guard let dir = SampleData.modelDirectory else {
        throw DataError("no --model given and the bundled sample model was not found (set AGG2EXP_SAMPLE_DATA)")
    }
    return dir
}

/// Explains one scan: attribution map, ranking of segments, official-schema row.
struct ExplainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "explain",
        abstract: "Attribute a target segment to the input and aggregate it over predicted segments (Agg²Exp).",
        discussion: """
            Prints the segments ranked by mass. --out writes the raw signed map (float32, model grid); \
            --json the ranking; --csv one row in the official results schema. With --target all every \
            class is explained (the class × segment matrix; --csv only).

            --model may be an nnU-Net v2 results folder (see segment): the scan goes through nnU-Net's \
            pipeline, segments are nnU-Net's own label map, and --out is written on the scan's grid \
            (--grid model: the network grid, permuted and cropped as nnU-Net feeds it). With several \
            nnU-Net parts as --model, a target is explained through the part that predicts it, over the \
            merged label map.
            """)

    @Argument(help: "CT scan (NIfTI).")
    var scan: String

    @Option(help: ArgumentHelp("Model directory (default: the bundled sample model); repeat it to list the parts "
        + "of a multi-part nnU-Net model."))
    var model: [String] = []

    @Option(help: "Target class: name, index, or all.")
    var target: String

    @Option(help: "Attribution method: \(AttributionMethodKind.allCases.map(\.rawValue).joined(separator: ", ")).")
    var method: String

    @OptionGroup var options: MethodOptions

    @OptionGroup var resources: ResourceOptions

    @Option(help: "Custom RoI label map on the scan's grid (aggregate over its labels instead of the prediction).")
    var roi: String?

    @Option(help: "Label names for --roi (ITK-SNAP, 3D Slicer or JSON).")
    var roiNames: String?

    @Option(help: "Joined RoIs as JSON {\"name\": [labels or names]}, reported after the single segments.")
    var groups: String?

    @Option(help: "Write the raw signed attribution (float32 NIfTI; model grid, or for nnU-Net folders see --grid).")
    var out: String?

    @Option(help: ArgumentHelp("Grid of --out for nnU-Net folders: scan (the scan's own grid, default) or model "
        + "(the network grid).", valueName: "scan|model"))
    var grid: String?

    @OptionGroup var windowTarget: WindowTargetOption

    @OptionGroup var nnunet: NNUNetOptions

    @Option(help: "Write the ranking as JSON.")
    var json: String?

    @Option(help: "Write one row in the official results schema.")
    var csv: String?

    @OptionGroup var compute: ThreadsOption

    func run() throws {
        compute.apply()
        let kind: AttributionMethodKind = try choice(method, "--method")
        let attributionOptions = try options.attributionOptions()
        let methodImpl = try AttributionMethods.make(kind, options: attributionOptions)
        let modelDirs = model.isEmpty ? [try defaultModelDirectory()] : model
        let net = try LoadedModel.load(modelDirs, nnunet: nnunet, windowTarget: windowTarget.windowTarget)
        let outGrid = try OutputGrid.parse(grid, nnunet: net.isNNUNet)
        let classes = net.classes
        let all = target == "all"
        if all && (out != nil || json != nil) {
            throw ValidationError("--target all writes only --csv (one map per class would be written otherwise)")
        }
        let targets = all ? Array(classes.indices) : [try resolveClass(target, classes: classes)]
        let inputs = [scan, roi, roiNames, groups].compactMap { $0 }
        try Preflight.output(out, inputs: inputs, extensions: [".nii", ".nii.gz"])
        try Preflight.output(json, inputs: inputs)
        try Preflight.output(csv, inputs: inputs)
        try net.preflight(scan: scan, resources: resources) { estimate, voxels, windows in
            estimate.addAttribution(kind, options: attributionOptions, modelVoxels: voxels, classes: classes.count,
                                    windows: windows, targets: targets.count)
        }
        let progress = ProgressReporter()
        let prepared = try PreparedScan.load(scan, model: net, progress: progress)
        let rois = try roiSet(prepared, classes: classes)

        let start = Date()
        let explanations = try net.explain(
            prepared, method: methodImpl, options: attributionOptions, targets: targets, rule: try options.rule(),
            processing: try options.processing(), rois: rois, progress: { progress.handler("\(kind.rawValue) \($0)") })
        progress.finish()
        printError(String(format: "attribution time %.3f s", Date().timeIntervalSince(start)))
        if !all, let e = explanations.first {
            print(Self.render(e), terminator: "")
            if let out {
                try NIfTI.write(prepared.volume(e.result.map, on: outGrid), to: out)
            }
            if let json {
                try writeText(Explainer.json(e, scan: scan, model: modelDirs.joined(separator: ",")), to: json)
            }
        }
        if let csv {
            let names = rois.reported.map(rois.name) + rois.groups.map(\.name)
            var table = ResultsTable(columns: ResultsColumns.official(targets: targets.map { classes[$0] },
                                                                      rois: names, qualityClasses: []))
            try table.append(patient: prepared.id, values: Explainer.resultValues(explanations, quality: nil))
            try table.write(to: URL(fileURLWithPath: csv))
        }
        let empty = explanations.filter(\.isEmptyTarget).map(\.className)
        if !empty.isEmpty && !all {
            throw DataError("target \(empty.joined(separator: ", ")) has no predicted voxels in \(scan); "
                            + "its masses are undefined (null)")
        }
    }

    func roiSet(_ prepared: PreparedScan, classes: [String]) throws -> RoISet {
        var set: RoISet
        if let roi {
            let labels = try prepared.labelsInModelGrid(roi)
            let table = try roiNames.map { try LabelTable.load($0) } ?? LabelTable()
            let present = Array(Set(labels)).sorted()
            set = RoISet(labels: labels, reported: present,
                         names: Dictionary(uniqueKeysWithValues: present.map { ($0, table.names[$0] ?? "roi_\($0)") }))
        } else {
            set = RoISet(labels: prepared.labels, reported: classes.indices.map { Int32($0) },
                         names: Dictionary(uniqueKeysWithValues: classes.enumerated().map { (Int32($0), $1) }))
        }
        if let groups {
            let data: Data
            do {
                try FileChecks.requireRegularFile(groups)
                data = try Data(contentsOf: URL(fileURLWithPath: groups))
            } catch {
                throw AggregationError.malformedGroups(source: groups, reason: "cannot read the file")
            }
            let names = set.names
            set.groups = try RoIGroup.parse(json: data, source: groups) { name in names.first { $0.value == name }?.key }
        }
        return set
    }

    /// The ranking as a table: segments by mass, undefined values as "—".
    static func render(_ e: Explanation) -> String {
        var out = "\(e.method.rawValue) · target \(e.className) (\(e.targetVoxels) voxels, \(e.rule.rawValue)) · \(e.processing.rawValue)\n"
        if let d = e.result.completenessDelta, let t = e.result.targetValue, let b = e.result.baselineValue {
            out += String(format: "completeness delta %.6g (T(x) − T(x′) = %.6g)\n", d, t - b)
        }
        let ranked = Aggregation.ranked(e.scores)
        let width = max(7, ranked.map(\.name.count).max() ?? 0)
        out += "  " + "segment".padding(toLength: width, withPad: " ", startingAt: 0) + "     mass".leftPadded(10)
            + "mean".leftPadded(12) + "voxels".leftPadded(10) + "\n"
        for s in ranked {
            out += "  " + s.name.padding(toLength: width, withPad: " ", startingAt: 0)
            out += (s.mass.map { String(format: "%.4f", $0) } ?? "—").leftPadded(10)
            out += (s.mean.map { String(format: "%.4g", $0) } ?? "—").leftPadded(12)
            out += String(s.voxels).leftPadded(10) + "\n"
        }
        return out
    }
}
