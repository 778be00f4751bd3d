import ArgumentParser
import Engine
import Foundation

/// Batch Agg²Exp over scans: one official-schema row per scan.
struct AggregateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "aggregate",
        abstract: "Explain every target of every scan and write one results row per scan (official CSV schema).",
        discussion: """
            Scans are sorted by id (file name without .nii/.nii.gz). --shard I/N processes the I-th of N \
            contiguous blocks; without it, SLURM_ARRAY_TASK_ID and SLURM_ARRAY_TASK_COUNT select the \
            block, so a SLURM array job shards with no extra flags. `merge` joins the parts. \
            --ground-truth PATTERN adds Dice and IoU per class: {id} in the pattern is replaced by the \
            scan id, and the label map must be on the scan's grid with the model's class indices.
            """)

    @Argument(help: "CT scans (NIfTI).")
    var scans: [String]

    @Option(help: "Model directory (default: the bundled sample model).")
    var model: String?

    @Option(help: "Attribution method: \(AttributionMethodKind.allCases.map(\.rawValue).joined(separator: ", ")).")
    var method: String

    @OptionGroup var options: MethodOptions

    @Option(help: "Targets: all, or a comma-separated list of class names or indices.")
    var targets = "all"

    @Option(help: "Ground-truth label map path with {id} standing for the scan id.")
    var groundTruth: String?

    @Option(help: "Output results CSV.")
    var csv: String

    @Option(help: "Process only shard I of N (I/N, 0-based).")
    var shard: String?

    func validate() throws {
        guard !scans.isEmpty else { throw ValidationError("give at least one scan") }
    }

    @OptionGroup var compute: ThreadsOption

    func run() throws {
        compute.apply()
        let kind: AttributionMethodKind = try choice(method, "--method")
        let attributionOptions = try options.attributionOptions()
        let methodImpl = try AttributionMethods.make(kind, options: attributionOptions)
        let rule = try options.rule()
        let processing = try options.processing()
        let selected = try shard.map { try Shard(argument: $0) }
            ?? Shard.fromEnvironment(ProcessInfo.processInfo.environment) ?? Shard(index: 0, count: 1)
        let net = try SegmentationModel.load(directory: try model ?? defaultModelDirectory())
        let classes = net.classes
        let targetIndices = targets == "all" ? Array(classes.indices)
            : try targets.split(separator: ",").map { try resolveClass(String($0), classes: classes) }
        let ids = scans.map(PreparedScan.patientID)
        if let dup = Dictionary(grouping: ids, by: { $0 }).first(where: { $0.value.count > 1 })?.key {
            throw ValidationError("two scans share the id \"\(dup)\"; ids come from file names and must be unique")
        }
        let ordered = scans.sorted { PreparedScan.patientID($0) < PreparedScan.patientID($1) }
        let mine = selected.select(ordered)
        let rois = classes.indices.map { Int32($0) }
        let names = Dictionary(uniqueKeysWithValues: classes.enumerated().map { (Int32($0), $1) })
        var table = ResultsTable(columns: ResultsColumns.official(targets: targetIndices.map { classes[$0] },
                                                                  rois: classes,
                                                                  qualityClasses: groundTruth == nil ? [] : classes))
        let progress = ProgressReporter()
        for (n, path) in mine.enumerated() {
            printError("[\(n + 1)/\(mine.count)] \(path)")
            let prepared = try PreparedScan.load(path, model: net, progress: progress)
            var quality: [(name: String, ClassQuality)]?
            if let groundTruth {
                let truthPath = groundTruth.replacingOccurrences(of: "{id}", with: prepared.id)
                let truth = try prepared.labelsInModelGrid(truthPath, model: net)
                let q = try SegmentationQuality.perClass(prediction: prepared.labels, truth: truth, classes: classes.count)
                quality = zip(classes, q).map { ($0, $1) }
            }
            let set = RoISet(labels: prepared.labels, reported: rois, names: names)
            let explanations = try Explainer.explain(
                method: methodImpl, options: attributionOptions, model: net, input: prepared.input,
                prediction: prepared.labels, classes: targetIndices.map { ($0, classes[$0]) }, rule: rule,
                processing: processing, rois: set, progress: { progress.handler("\(prepared.id) \($0)") },
                cancel: nil)
            progress.finish()
            try table.append(patient: prepared.id, values: Explainer.resultValues(explanations, quality: quality))
        }
        try table.sortedByPatient().write(to: URL(fileURLWithPath: csv))
        printError("wrote \(mine.count) rows (shard \(selected.index)/\(selected.count)) to \(csv)")
    }
}
