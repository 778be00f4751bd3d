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
            contiguous blocks; without it, SLURM_ARRAY_TASK_ID (minus SLURM_ARRAY_TASK_MIN, divided by \
            SLURM_ARRAY_TASK_STEP) and SLURM_ARRAY_TASK_COUNT select the \
            block, so a SLURM array job shards with no extra flags. `merge` joins the parts. \
            --ground-truth PATTERN adds Dice and IoU per class: {id} in the pattern is replaced by the \
            scan id, and the label map must be on the scan's grid with the model's class indices. \
            Each row is appended to --csv (and flushed) as soon as its scan is done; at the end the \
            file is rewritten sorted by patient. A scan that fails is reported on stderr and in \
            CSV.errors.json and the others continue (exit status 2). --resume skips scans already \
            in --csv.
            """)

    @Argument(help: "CT scans (NIfTI).")
    var scans: [String]

    @Option(help: ArgumentHelp("Model directory (default: the bundled sample model); repeat it to list the parts "
        + "of a multi-part nnU-Net model."))
    var model: [String] = []

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

    @Flag(help: "Keep the rows already in --csv (same columns) and process only the scans missing from it.")
    var resume = false

    @OptionGroup var resources: ResourceOptions

    @OptionGroup var windowTarget: WindowTargetOption

    @OptionGroup var nnunet: NNUNetOptions

    func validate() throws {
        guard !scans.isEmpty else { throw ValidationError("give at least one scan") }
    }

    @OptionGroup var compute: ThreadsOption

    /// One scan that could not be processed: which, at what stage, and why.
    struct Failure {
        var scan: String
        var stage: String
        var message: String
    }

    func run() throws {
        compute.apply()
        let kind: AttributionMethodKind = try choice(method, "--method")
        let attributionOptions = try options.attributionOptions()
        let methodImpl = try AttributionMethods.make(kind, options: attributionOptions)
        let rule = try options.rule()
        let processing = try options.processing()
        let selected: Shard
        if let shard {
            do { selected = try Shard(argument: shard) } catch { throw ValidationError("\(error)") }
        } else {
            selected = try Shard.fromEnvironment(ProcessInfo.processInfo.environment) ?? Shard(index: 0, count: 1)
        }
        let ids = scans.map(PreparedScan.patientID)
        if let dup = Dictionary(grouping: ids, by: { $0 }).first(where: { $0.value.count > 1 })?.key {
            throw ValidationError("two scans share the id \"\(dup)\"; ids come from file names and must be unique")
        }
        let errorsPath = csv + ".errors.json"
        try Preflight.output(csv, inputs: scans)
        try Preflight.output(errorsPath, inputs: scans)
        let net = try LoadedModel.load(model.isEmpty ? [try defaultModelDirectory()] : model, nnunet: nnunet,
                                       windowTarget: windowTarget.windowTarget)
        let classes = net.classes
        let targetIndices = targets == "all" ? Array(classes.indices)
            : try resolveTargets(targets, classes: classes, option: "--targets")
        let ordered = scans.sorted { PreparedScan.patientID($0) < PreparedScan.patientID($1) }
        let mine = selected.select(ordered)
        let rois = classes.indices.map { Int32($0) }
        let names = Dictionary(uniqueKeysWithValues: classes.enumerated().map { (Int32($0), $1) })
        var table = ResultsTable(columns: ResultsColumns.official(targets: targetIndices.map { classes[$0] },
                                                                  rois: classes,
                                                                  qualityClasses: groundTruth == nil ? [] : classes))
        let done = try startOutput(&table)
        let progress = ProgressReporter()
        var failures: [Failure] = []
        var written = 0
        for (n, path) in mine.enumerated() {
            let id = PreparedScan.patientID(path)
            if done.contains(id) {
                printError("[\(n + 1)/\(mine.count)] \(path): already in \(csv), skipped")
                continue
            }
            printError("[\(n + 1)/\(mine.count)] \(path)")
            var stage = "check"
            do {
                try net.preflight(scan: path, resources: resources) { estimate, voxels, windows in
                    estimate.addAttribution(kind, options: attributionOptions, modelVoxels: voxels,
                                            classes: classes.count, windows: windows, targets: targetIndices.count)
                }
                stage = "segment"
                let prepared = try PreparedScan.load(path, model: net, progress: progress)
                var quality: [(name: String, ClassQuality)]?
                if let groundTruth {
                    stage = "ground truth"
                    let truthPath = groundTruth.replacingOccurrences(of: "{id}", with: prepared.id)
                    let truth = try prepared.labelsInModelGrid(truthPath)
                    let q = try SegmentationQuality.perClass(prediction: prepared.labels, truth: truth, classes: classes.count)
                    quality = zip(classes, q).map { ($0, $1) }
                }
                stage = "explain"
                let set = RoISet(labels: prepared.labels, reported: rois, names: names)
                let explanations = try net.explain(
                    prepared, method: methodImpl, options: attributionOptions, targets: targetIndices, rule: rule,
                    processing: processing, rois: set, progress: { progress.handler("\(prepared.id) \($0)") })
                progress.finish()
                stage = "write"
                try table.append(patient: prepared.id, values: Explainer.resultValues(explanations, quality: quality))
                try AtomicFile.appendDurably(Data(table.rowLine(table.patients.count - 1).utf8), to: csv)
                written += 1
            } catch let error as FileWriteError {
                // The output itself cannot be written: the remaining scans would fail the same way.
                throw error
            } catch {
                progress.finish()
                let message = Agg2Exp.oneLine(Agg2Exp.describe(error))
                printError("error: \(path): \(stage): \(message)")
                failures.append(Failure(scan: path, stage: stage, message: message))
                try writeFailures(failures, to: errorsPath)
            }
        }
        // The canonical file: rows sorted by patient, identical to a run that was never interrupted.
        try table.sortedByPatient().write(to: URL(fileURLWithPath: csv))
        if failures.isEmpty { unlink(errorsPath) }
        printError("wrote \(written) new rows, \(table.patients.count) in total (shard \(selected.index)/\(selected.count)) to \(csv)")
        if !failures.isEmpty {
            printError("error: \(failures.count) of \(mine.count) scans failed; see \(errorsPath)")
            throw ExitCode(table.patients.isEmpty ? ExitStatus.dataError : ExitStatus.partialBatch)
        }
    }

    /// Starts --csv: with --resume, keeps its rows (columns must match) and returns their
    /// patients; otherwise writes the header alone. Rows are then appended one by one.
    func startOutput(_ table: inout ResultsTable) throws -> Set<String> {
        if resume, FileManager.default.fileExists(atPath: csv) {
            try FileChecks.requireRegularFile(csv)
            var text = try String(contentsOfFile: csv, encoding: .utf8)
            if !text.isEmpty, !text.hasSuffix("\n") {
                // A kill during an append leaves a row without its newline: that scan is redone.
                text = String(text[..<(text.lastIndex(of: "\n").map { text.index(after: $0) } ?? text.startIndex)])
                printError("\(csv): dropping an incomplete last row")
            }
            let previous = try ResultsTable.parse(text, source: csv)
            guard previous.columns == table.columns else {
                let a = Set(table.columns), b = Set(previous.columns)
                throw ResultsCSVError.mismatchedColumns(file: csv, reference: "this run's columns",
                                                        missing: table.columns.filter { !b.contains($0) },
                                                        extra: previous.columns.filter { !a.contains($0) })
            }
            table = previous
            // Rewritten so a row cut short by a kill (no final newline) cannot join the next one.
            try table.write(to: URL(fileURLWithPath: csv))
            return Set(previous.patients)
        }
        try table.write(to: URL(fileURLWithPath: csv))
        return []
    }

    /// OUT.csv.errors.json: [{"scan", "stage", "message"}], rewritten after every failure.
    func writeFailures(_ failures: [Failure], to path: String) throws {
        let entries = failures.map {
            "  {\"scan\": \(JSONText.string($0.scan)), \"stage\": \(JSONText.string($0.stage)), "
                + "\"message\": \(JSONText.string($0.message))}"
        }
        try writeText("[\n" + entries.joined(separator: ",\n") + "\n]\n", to: path)
    }
}
