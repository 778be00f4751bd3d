import Foundation
import Engine

/// Connects the explorer to background computation: turns `Reaction.recompute` into cache look-ups
/// or jobs, and folds finished jobs back into the explorer. Used from the UI thread only.
public final class ExplorerSession {
    public var explorer: Explorer
    /// nil without a model: the explorer then shows the scan and labels only.
    public let controller: AnalysisController?
    /// Where `e`/`E` write reports.
    public var exportDirectory: URL
    private var lastProgress: ProgressState?
    /// Rankings of maps already ranked once (matrix columns, compare mode's second method).
    var rankingMemo: [RankingKey: [SegmentScore]] = [:]

    public init(explorer: Explorer, controller: AnalysisController?,
                exportDirectory: URL = URL(fileURLWithPath: FileManager.default.currentDirectoryPath)) {
        self.explorer = explorer
        self.controller = controller
        self.exportDirectory = exportDirectory
    }

    public var currentKey: AnalysisKey {
        AnalysisKey(method: explorer.method, target: explorer.state.target, settings: explorer.state.compute.settings)
    }

    /// Starts the first computation: the prediction when no label map was given, else the attribution.
    /// What the disk cache already holds (the prediction, the first map) is read here, so a scan
    /// seen before opens with its map in the first frame instead of after two background jobs.
    public func start() {
        guard let controller else {
            explorer.state.message = StatusMessage("No model loaded: showing the scan and labels only (--model DIR)")
            explorer.rows = Self.labelCounts(explorer.scene)
            return
        }
        let key = currentKey
        let provider = controller.provider
        // The map is read (and its magnitudes sorted) while the prediction is read and measured.
        let storedMap = controller.cached(key) != nil ? nil : BackgroundResult {
            provider.storedAttribution(method: key.method, target: key.target, settings: key.settings)
        }
        if explorer.scene.labels == nil, let stored = provider.storedPrediction() {
            explorer.scene.setLabels(stored, source: Scene.predictionSource)
        }
        if explorer.scene.labels != nil, let storedMap, let stored = try? storedMap.value() {
            controller.preload(key, stored)
            if let notice = stored.notice { explorer.state.message = StatusMessage(notice) }
        }
        refresh()
    }

    /// Blocks until the prediction and the current attribution are done (headless reports).
    public func finishComputations() {
        guard let controller else { return }
        // A job can finish before the loop checks; keep polling until nothing runs and nothing changed.
        var changed = false
        repeat {
            controller.wait()
            changed = poll()
        } while controller.runningJob != nil || changed
    }

    /// Handles one input event; returns what the run loop must do (export is done here).
    @discardableResult
    public func handle(_ event: InputEvent) -> Reaction {
        let reaction = explorer.handle(event)
        defer { updateViews() }
        switch reaction {
        case .recompute:
            refresh()
            return .redraw
        case .cancelComputation:
            controller?.cancel()
            // "cancelling…" shows in this very frame, not at the next poll.
            explorer.progress = controller?.progress(shown: currentJob)
            return .redraw
        case .compute(let request):
            performCompute(request)
            return .redraw
        case .export(let ansi):
            exportReport(ansi: ansi, date: Date())
            return .redraw
        case .saveMap:
            saveMap(date: Date())
            return .redraw
        default:
            return reaction
        }
    }

    /// Writes a report and reports the path (or the failure) in the status line.
    public func exportReport(ansi: Bool, date: Date) {
        do {
            let url = try Report.export(explorer, ansi: ansi, directory: exportDirectory, date: date)
            explorer.state.message = StatusMessage("Report written to \(url.path)")
        } catch {
            explorer.state.message = StatusMessage("Export failed: \(error)", isError: true)
        }
    }

    /// Writes the current attribution map as float32 NIfTI on the model grid into the export
    /// directory, named `METHOD__TARGET__YYYYMMDD-HHMMSS.nii.gz` so `view --attributions` can open
    /// it again, and reports the path (or the failure) in the status line.
    public func saveMap(date: Date) {
        guard let attribution = explorer.attribution else {
            explorer.state.message = StatusMessage("No attribution map to save yet", isError: true)
            return
        }
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.dateFormat = "yyyyMMdd-HHmmss"
        let safe = { (s: String) in String(s.map { $0.isLetter || $0.isNumber || "-_.".contains($0) ? $0 : "-" }) }
        let name = "\(safe(explorer.method))__\(safe(explorer.targetName))__\(formatter.string(from: date)).nii.gz"
        let url = exportDirectory.appendingPathComponent(name)
        do {
            try NIfTI.write(attribution.map, to: url.path)
            explorer.state.message = StatusMessage("Map saved to \(url.path)")
        } catch {
            explorer.state.message = StatusMessage("Saving the map failed: \(error)", isError: true)
        }
    }

    /// Shows the cached attribution for the current (method, target) or starts computing it; the
    /// prediction comes first when there is no label map yet.
    public func refresh() {
        guard let controller else { return }
        if explorer.scene.labels == nil {
            controller.start(.prediction, label: "predicting")
        } else if let cached = controller.cached(currentKey) {
            controller.cancelAttribution(keeping: shownKeys)
            explorer.state.compute.pending = nil
            explorer.attribution = cached
            rerank()
        } else if !controller.provider.methods.contains(explorer.method) {
            // An imported method: nothing to compute, only the maps that came with it.
            controller.cancelAttribution(keeping: shownKeys)
            explorer.attribution = nil
            explorer.rows = []
            let targets = controller.cachedTargets(method: explorer.method).map {
                $0 < explorer.targetNames.count ? explorer.targetNames[$0] : "class \($0)"
            }
            explorer.state.message = StatusMessage("\(explorer.method) has no map for \(explorer.targetName) "
                                                   + "(imported: \(targets.joined(separator: ", ")))", isError: true)
        } else {
            explorer.attribution = nil
            explorer.rows = []
            let key = currentKey
            let estimate = controller.provider.estimate(method: key.method, settings: key.settings)
            explorer.state.compute.estimate = estimate
            if holdForConfirmation(key, estimate: estimate) {
                controller.cancelAttribution(keeping: shownKeys)
            } else {
                controller.start(.attribution(key), label: "\(explorer.method) → \(explorer.targetName)",
                                 estimate: estimate?.seconds)
            }
        }
        explorer.progress = controller.progress(shown: currentJob)
    }

    /// One row per label with its voxel count (the sidebar without attributions).
    static func labelCounts(_ scene: Scene) -> [SegmentScore] {
        guard let labels = scene.labels else { return [] }
        var counts: [Int32: Int] = [:]
        for l in labels.labels { counts[l, default: 0] += 1 }
        return counts.keys.sorted().map {
            SegmentScore(label: $0, name: scene.labelName($0), voxels: counts[$0]!, mass: nil, mean: nil)
        }
    }

    private func rerank() {
        guard let controller, let a = explorer.attribution, let labels = explorer.scene.labels else {
            explorer.rows = []
            return
        }
        explorer.setRows(controller.provider.rank(attribution: a.map, segments: labels,
                                                  processing: explorer.state.processing,
                                                  names: explorer.scene.labelNames))
    }

    /// Folds finished jobs and progress into the explorer; true when the frame must be redrawn.
    public func poll() -> Bool {
        guard let controller else { return false }
        var changed = false
        for event in controller.takeEvents() {
            changed = true
            switch event {
            case .predicted(let map):
                explorer.scene.setLabels(map, source: Scene.predictionSource)
                refresh()
            case .attributed(let key, let display):
                if key == currentKey {
                    refresh()
                    if let notice = display.notice {
                        explorer.state.message = StatusMessage(notice, isError: notice.hasPrefix("Not cached"))
                    }
                } else if !shownKeys.contains(key) {
                    let name = key.target < explorer.targetNames.count ? explorer.targetNames[key.target]
                        : "class \(key.target)"
                    explorer.state.message = StatusMessage("\(key.method) → \(name) finished in the background "
                                                           + "(cached: come back to it to see it)")
                }
            case .failed(let job, let why):
                noteMatrixFailure(job, why)
                explorer.state.message = StatusMessage("\(describe(job)) failed: \(why)", isError: true)
            case .cancelled(let job):
                // A job the user left is not news; the message would hide what the current view says.
                guard job == currentJob else { continue }
                explorer.state.message = StatusMessage("\(describe(job)) cancelled; R computes it again")
            }
        }
        let progress = controller.progress(shown: currentJob)
        if progress != lastProgress {
            // Redraw when the bar moves a visible step, not on every callback.
            let step = { (p: ProgressState?) in p.map { Int($0.fraction * 50) } }
            if step(progress) != step(lastProgress) || (progress == nil) != (lastProgress == nil)
                || progress?.label != lastProgress?.label
                || Int(progress?.elapsed ?? 0) != Int(lastProgress?.elapsed ?? 0) { changed = true }
            lastProgress = progress
        }
        explorer.progress = progress
        if changed { updateViews() }
        return changed
    }

    private func describe(_ job: AnalysisController.Job) -> String {
        switch job {
        case .prediction: return "Prediction"
        case .attribution(let key): return "\(key.method) for class \(key.target)"
        }
    }
}
