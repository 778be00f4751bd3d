import Foundation
import Engine

/// The class × segment matrix's background batch: the targets of the current method without a
/// map, computed one after another while the matrix is open, so its columns fill in as they land.
///
/// The batch uses the explorer's one job queue: it starts its next target only while nothing else
/// runs and the shown map does not wait for `y`, so the view the user looks at always comes first.
public struct MatrixBatch: Equatable, Sendable {
    /// The method and (normalised) settings whose maps the batch computes; another method or
    /// option ends it.
    public var method: String
    public var settings: MethodSettings
    /// Targets the batch set out to compute, in order.
    public var targets: [Int]
    /// Targets whose maps are in (computed by the batch or otherwise).
    public var landed: Set<Int> = []
    /// Targets whose job failed, with the reason; they are not tried again.
    public var failed: [Int: String] = [:]
    /// The target computing now, and since when.
    public var computing: Int?
    public var computingSince: Date?
    /// Estimated seconds of one map (the provider's runtime estimate; nil: not known).
    public var perTarget: RuntimeEstimate?
    /// Seconds the batch's own finished jobs took: once there is one, their mean paces the ETA.
    public var measured: [Double] = []
    /// The batch's total estimate is above the confirm threshold: nothing starts before `y`.
    public var awaitingConfirmation: Bool

    public init(method: String, settings: MethodSettings, targets: [Int], perTarget: RuntimeEstimate?,
                awaitingConfirmation: Bool) {
        self.method = method
        self.settings = settings
        self.targets = targets
        self.perTarget = perTarget
        self.awaitingConfirmation = awaitingConfirmation
    }

    /// Targets still to compute (the one computing included), in order.
    public var remaining: [Int] { targets.filter { !landed.contains($0) && failed[$0] == nil } }

    /// Seconds one map takes: the mean of the batch's finished jobs, else the estimate.
    public var secondsPerTarget: Double? {
        measured.isEmpty ? perTarget?.seconds : measured.reduce(0, +) / Double(measured.count)
    }

    /// The whole batch's estimate before it starts.
    public var totalEstimate: Double? { perTarget.map { $0.seconds * Double(targets.count) } }

    /// Seconds until the batch is done: what the running job has left (its own ETA) plus one map's
    /// time for each target after it.
    public func secondsLeft(running: ProgressState?) -> Double? {
        let left = remaining.count
        guard left > 0 else { return 0 }
        guard let per = secondsPerTarget else { return nil }
        if computing != nil, let now = running?.remaining { return now + per * Double(left - 1) }
        return per * Double(left)
    }

    /// 1-based position of the computing target in the batch ("3 of 14").
    public var position: Int { landed.intersection(targets).count + failed.count + 1 }
}

extension Explorer {
    /// Keys the matrix batch adds: `y` starts a batch waiting for confirmation.
    func batchKey(_ key: Key) -> Reaction? {
        guard key == .char("y"), matrixBatch?.awaitingConfirmation == true else { return nil }
        return .compute(.confirmMatrixBatch)
    }

    /// Name of a target class for messages.
    func nameOfTarget(_ target: Int) -> String {
        target < targetNames.count ? targetNames[target] : "class \(target)"
    }
}

extension ExplorerSession {
    /// Creates, advances or ends the matrix batch: while the matrix is open on a method the
    /// provider computes, the targets missing from it are computed one after another; closing the
    /// matrix, or another method or option, cancels the batch's running job unless it is pinned.
    func updateMatrixBatch() {
        guard let controller else { return }
        let method = explorer.method
        let settings = explorer.state.compute.settings.normalised(for: method)
        guard explorer.state.matrix != nil, explorer.scene.labels != nil, controller.provider.methods.contains(method)
        else {
            endMatrixBatch(reason: explorer.state.matrix == nil ? "Matrix closed" : nil)
            return
        }
        if let batch = explorer.matrixBatch, batch.method != method || batch.settings != settings {
            endMatrixBatch(reason: nil)
        }
        let matrix = explorer.classSegmentMatrix
        let known = Set(matrix.targets)
        // The shown target is the view's own job, with its own confirmation.
        let missing = matrix.missing.filter { $0 != explorer.state.target }
        if explorer.matrixBatch == nil {
            guard !missing.isEmpty else { return }
            let per = controller.provider.estimate(method: method, settings: settings)
            let keys = missing.map { key(method: method, target: $0) }
            let total = per.map { $0.seconds * Double(missing.count) } ?? 0
            let confirmed = explorer.state.compute.confirmed
            let ask = total > explorer.state.compute.confirmAbove && !keys.allSatisfy(confirmed.contains)
            explorer.matrixBatch = MatrixBatch(method: method, settings: settings, targets: missing, perTarget: per,
                                               awaitingConfirmation: ask)
            if ask, let per {
                explorer.state.message = StatusMessage(
                    "The \(missing.count) missing targets of \(method) need ≈ \(PassCostBook.duration(total)) "
                    + "(\(missing.count) × \(PassCostBook.duration(per.seconds))): y computes them, Esc closes")
            }
        }
        guard var batch = explorer.matrixBatch else { return }
        // A target that became missing later (the shown target changed) joins the batch.
        for t in missing where !batch.targets.contains(t) { batch.targets.append(t) }
        for t in batch.targets where known.contains(t) { batch.landed.insert(t) }
        if let t = batch.computing, !controller.isSubmitted(.attribution(key(method: method, target: t))) {
            // Landed, failed (noted by `poll`), or superseded by the user's own job: then it runs again later.
            if batch.landed.contains(t), let since = batch.computingSince {
                batch.measured.append(Date().timeIntervalSince(since))
            }
            batch.computing = nil
            batch.computingSince = nil
        }
        if !batch.awaitingConfirmation, batch.computing == nil, controller.runningJob == nil,
           explorer.state.compute.pending == nil,
           let next = batch.remaining.first(where: { $0 != explorer.state.target }) {
            let position = batch.position
            controller.start(.attribution(key(method: method, target: next)),
                             label: "\(method) → \(explorer.nameOfTarget(next)) (matrix \(position) of \(batch.targets.count))",
                             estimate: batch.secondsPerTarget)
            batch.computing = next
            batch.computingSince = Date()
            explorer.progress = controller.progress(shown: currentJob)
        }
        explorer.matrixBatch = batch
    }

    /// Ends the batch; its running job is cancelled unless pinned. `reason` words the message
    /// (nil: none, e.g. when another method starts a new batch).
    func endMatrixBatch(reason: String?) {
        guard let controller, let batch = explorer.matrixBatch else { return }
        explorer.matrixBatch = nil
        let done = batch.landed.intersection(batch.targets).count
        guard let t = batch.computing else {
            if let reason, done < batch.targets.count, !batch.awaitingConfirmation, explorer.state.message == nil {
                explorer.state.message = StatusMessage("\(reason): \(done) of \(batch.targets.count) missing "
                                                       + "\(batch.method) targets computed; X goes on")
            }
            return
        }
        let job = AnalysisController.Job.attribution(AnalysisKey(method: batch.method, target: t,
                                                                 settings: batch.settings))
        let pinned = controller.isPinned(job) && controller.isSubmitted(job)
        if !pinned { controller.drop(job) }
        explorer.progress = controller.progress(shown: currentJob)
        // A message of the same key press (Enter's jump) says more than this one.
        guard let reason, explorer.state.message == nil else { return }
        explorer.state.message = StatusMessage(
            "\(reason): \(done) of \(batch.targets.count) missing \(batch.method) targets computed; "
            + (pinned ? "pinned \(explorer.nameOfTarget(t)) runs on into the cache"
                      : "\(explorer.nameOfTarget(t)) cancelled, X goes on"))
    }

    /// `y` in the matrix: the batch may start, and its targets do not ask again.
    func confirmMatrixBatch() {
        guard var batch = explorer.matrixBatch, batch.awaitingConfirmation else { return }
        batch.awaitingConfirmation = false
        for t in batch.targets { explorer.state.compute.confirmed.insert(key(method: batch.method, target: t)) }
        explorer.matrixBatch = batch
        explorer.state.message = StatusMessage("Computing \(batch.remaining.count) \(batch.method) maps "
                                               + "one after another; columns appear as they land")
    }

    /// Notes a failed batch job so it is not tried again.
    func noteMatrixFailure(_ job: AnalysisController.Job, _ why: String) {
        guard case .attribution(let k) = job, let batch = explorer.matrixBatch, k.method == batch.method,
              k.settings == batch.settings, batch.targets.contains(k.target) else { return }
        explorer.matrixBatch?.failed[k.target] = why
    }

    /// The key the matrix batch is computing (kept when a refresh cancels jobs no view shows).
    var runningBatchKey: AnalysisKey? {
        guard explorer.state.matrix != nil, let batch = explorer.matrixBatch, let t = batch.computing,
              batch.method == explorer.method else { return nil }
        return AnalysisKey(method: batch.method, target: t, settings: batch.settings)
    }
}
