import Foundation
import Engine

/// The computations behind the explorer: prediction, attribution for (method, target), ranking.
/// The engine provides the real implementation; tests use small synthetic ones.
public protocol AnalysisProvider: Sendable {
    /// Attribution method names, in the order `m` cycles through them.
    var methods: [String] { get }
    /// Model class names; a target is an index into this list.
    var classNames: [String] { get }
    /// One line naming the model (directory, architecture) for the status and report.
    var modelDescription: String { get }

    /// The model's segmentation of the scan, on the scan grid.
    func predict(progress: @escaping ProgressHandler, cancel: CancellationToken) throws -> LabelMap

    /// The attribution map of `method` for class `target` with the default settings, on the scan
    /// grid, with provenance details.
    func attribute(method: String, target: Int,
                   progress: @escaping ProgressHandler, cancel: CancellationToken) throws -> AttributionDisplay

    /// The attribution map with explicit settings; `recompute` skips any stored copy.
    func attribute(method: String, target: Int, settings: MethodSettings, recompute: Bool,
                   progress: @escaping ProgressHandler, cancel: CancellationToken) throws -> AttributionDisplay

    /// How long computing `method` with `settings` would take on this machine (nil: not known).
    func estimate(method: String, settings: MethodSettings) -> RuntimeEstimate?

    /// Mass and mean of processed attribution per segment (background included).
    func rank(attribution: Volume, segments: LabelMap, processing: AttributionProcessing, names: [Int32: String]) -> [SegmentScore]

    /// The map of (method, target) when it is already stored (the attribution cache on disk),
    /// without computing anything; nil when it is not.
    func storedAttribution(method: String, target: Int, settings: MethodSettings) -> AttributionDisplay?

    /// The prediction when it is already stored, without computing it; nil when it is not.
    func storedPrediction() -> LabelMap?
}

extension AnalysisProvider {
    /// Providers without a store have nothing stored.
    public func storedAttribution(method: String, target: Int, settings: MethodSettings) -> AttributionDisplay? { nil }
    public func storedPrediction() -> LabelMap? { nil }
}

extension AnalysisProvider {
    /// Providers without settings compute the default settings only, and say so otherwise.
    public func attribute(method: String, target: Int, settings: MethodSettings, recompute: Bool,
                          progress: @escaping ProgressHandler, cancel: CancellationToken) throws -> AttributionDisplay {
        guard settings.normalised(for: method) == MethodSettings() else {
            throw AttributionError.invalidOption("\(modelDescription) computes \(method) with its default options only")
        }
        return try attribute(method: method, target: target, progress: progress, cancel: cancel)
    }

    public func estimate(method: String, settings: MethodSettings) -> RuntimeEstimate? { nil }
}

/// Identifies a cached attribution: method, target class and the settings that shaped the map.
public struct AnalysisKey: Hashable, Sendable {
    public var method: String
    public var target: Int
    /// Normalised for the method (see `MethodSettings.normalised`).
    public var settings: MethodSettings

    public init(method: String, target: Int, settings: MethodSettings = MethodSettings()) {
        self.method = method
        self.target = target
        self.settings = settings.normalised(for: method)
    }
}

/// Runs provider work off the UI thread, one job at a time in order, and caches finished
/// attributions.
///
/// The run loop polls `progress` and `takeEvents()` between frames, so the UI never waits on a
/// computation. Starting a job cancels every other job that is not pinned; pinned jobs run on
/// (the new job waits behind them) and land in the cache.
public final class AnalysisController: @unchecked Sendable {
    public enum Job: Hashable, Sendable {
        case prediction
        case attribution(AnalysisKey)
    }

    public enum Event: Sendable {
        case predicted(LabelMap)
        case attributed(AnalysisKey, AttributionDisplay)
        case failed(Job, String)
        case cancelled(Job)
    }

    /// A submitted job: queued until `started` is set, running until it finishes.
    private struct Record {
        let job: Job
        let token: CancellationToken
        var label: String
        var fraction: Double = 0
        var started: Date?
        var pinned = false
        /// Estimated seconds, shown until the job reports its own pace.
        var estimate: Double?
        /// Cancelled by the user (Esc) rather than superseded by another job.
        var cancelledByUser = false
    }

    public let provider: AnalysisProvider
    private let lock = NSLock()
    private var cache: [AnalysisKey: AttributionDisplay] = [:]
    /// Submitted jobs in order; at most the first one with `started` set is running.
    private var records: [Record] = []
    private var events: [Event] = []
    private let queue = DispatchQueue(label: "agg2exp.analysis", qos: .userInitiated)

    public init(provider: AnalysisProvider) { self.provider = provider }

    public func cached(_ key: AnalysisKey) -> AttributionDisplay? { lock.withLock { cache[key] } }

    /// Puts a map made elsewhere (an imported file) into the cache, as if it had been computed.
    public func preload(_ key: AnalysisKey, _ display: AttributionDisplay) { lock.withLock { cache[key] = display } }

    /// Targets with a cached map for `method`, ascending.
    public func cachedTargets(method: String) -> [Int] {
        lock.withLock { Array(Set(cache.keys.filter { $0.method == method }.map(\.target))).sorted() }
    }

    /// Progress of the running job, if any.
    public var progress: ProgressState? { progress(shown: nil) }

    /// Progress as the user looking at `shown` should see it: that job's own when it runs, or
    /// the running (pinned) job it waits behind.
    public func progress(shown: Job?) -> ProgressState? {
        lock.withLock {
            guard let running = records.first(where: { $0.started != nil }) ?? records.first else { return nil }
            let elapsed = running.started.map { Date().timeIntervalSince($0) } ?? 0
            let cancelling = running.token.isCancelled
            // Remaining time: from the estimate before the first step, then more and more from the
            // pace so far (early steps are slow to tell: IG's first one also holds a forward pass).
            var eta: Double?
            if !cancelling {
                let f = running.fraction
                let byEstimate = running.estimate.map { max(0, $0 - elapsed) }
                if f > 0 {
                    let byPace = elapsed * (1 - f) / f
                    eta = byEstimate.map { f * byPace + (1 - f) * $0 } ?? byPace
                } else {
                    eta = byEstimate
                }
            }
            var label = cancelling ? "cancelling…" : running.label
            if running.pinned && !cancelling { label += " (pinned)" }
            if let shown, shown != running.job, let waiting = records.first(where: { $0.job == shown }) {
                label = "\(waiting.label) waits for \(label)"
            }
            return ProgressState(label: label, fraction: running.fraction, elapsed: elapsed, remaining: eta,
                                 estimated: running.fraction == 0 && running.estimate != nil && !cancelling)
        }
    }

    /// The first submitted job that has not finished (running or queued).
    public var runningJob: Job? { lock.withLock { records.first?.job } }

    /// Whether `job` is submitted and pinned.
    public func isPinned(_ job: Job) -> Bool { lock.withLock { records.contains { $0.job == job && $0.pinned } } }

    /// Whether `job` is submitted (queued or running) and not cancelled.
    public func isSubmitted(_ job: Job) -> Bool {
        lock.withLock { records.contains { $0.job == job && !$0.token.isCancelled } }
    }

    /// Cancels `job` unless it is pinned, as leaving it does (no news for the user); true when it
    /// was cancelled, false when it is pinned or not submitted.
    @discardableResult
    public func drop(_ job: Job) -> Bool {
        lock.withLock {
            guard let i = records.firstIndex(where: { $0.job == job && !$0.token.isCancelled }),
                  !records[i].pinned else { return false }
            records[i].token.cancel()
            return true
        }
    }

    /// Finished, failed and cancelled jobs since the last call.
    public func takeEvents() -> [Event] {
        lock.withLock {
            defer { events = [] }
            return events
        }
    }

    /// Cancels `job` when it is submitted, else the running job — or the next one, when none has
    /// started yet (Esc), pinned or not.
    public func cancel(_ job: Job? = nil) {
        lock.withLock {
            guard let i = job.flatMap({ j in records.firstIndex { $0.job == j } })
                    ?? records.firstIndex(where: { $0.started != nil }) ?? records.indices.first else { return }
            records[i].cancelledByUser = true
            records[i].token.cancel()
        }
    }

    /// Pins or unpins `job` (a pinned job survives leaving its method, target or options);
    /// returns the new state, nil when the job is not submitted.
    @discardableResult
    public func togglePin(_ job: Job) -> Bool? {
        lock.withLock {
            guard let i = records.firstIndex(where: { $0.job == job && !$0.token.isCancelled }) else { return nil }
            records[i].pinned.toggle()
            return records[i].pinned
        }
    }

    /// Cancels every unpinned attribution except `key`'s: leaving a method, target or option
    /// stops its job instead of letting it run on unseen.
    public func cancelAttribution(otherThan key: AnalysisKey) { cancelAttribution(keeping: [key]) }

    /// Cancels every unpinned attribution that computes none of `keys` (what is on screen).
    public func cancelAttribution(keeping keys: Set<AnalysisKey>) {
        lock.withLock {
            for r in records where !r.pinned {
                if case .attribution(let k) = r.job, !keys.contains(k) { r.token.cancel() }
            }
        }
    }

    /// Starts `job` unless it is already submitted (or, without `recompute`, cached). Every other
    /// unpinned job is cancelled; pinned ones run first.
    /// - Parameters:
    ///   - estimate: seconds the job is expected to take, shown until it reports progress.
    ///   - recompute: compute again even when a map is cached (in memory or on disk).
    public func start(_ job: Job, label: String, estimate: Double? = nil, recompute: Bool = false) {
        let token = CancellationToken()
        let shouldRun: Bool = lock.withLock {
            if records.contains(where: { $0.job == job && !$0.token.isCancelled }) { return false }
            if case .attribution(let key) = job, cache[key] != nil, !recompute { return false }
            for r in records where !r.pinned && r.job != job { r.token.cancel() }
            records.append(Record(job: job, token: token, label: label, estimate: estimate))
            return true
        }
        guard shouldRun else { return }
        let provider = self.provider
        queue.async { [weak self] in
            guard let self else { return }
            let proceed: Bool = self.lock.withLock {
                guard let i = self.records.firstIndex(where: { $0.token === token }) else { return false }
                self.records[i].started = Date()
                return !token.isCancelled
            }
            guard proceed else {
                self.finish(job, token: token, event: .cancelled(job))
                return
            }
            let progress: ProgressHandler = { [weak self] f in
                guard let self else { return }
                self.lock.withLock {
                    if let i = self.records.firstIndex(where: { $0.token === token }) { self.records[i].fraction = f }
                }
            }
            let event: Event
            do {
                switch job {
                case .prediction:
                    event = .predicted(try provider.predict(progress: progress, cancel: token))
                case .attribution(let key):
                    let result = try provider.attribute(method: key.method, target: key.target, settings: key.settings,
                                                        recompute: recompute, progress: progress, cancel: token)
                    try token.check()
                    event = .attributed(key, result)
                }
            } catch is CancellationError {
                event = .cancelled(job)
            } catch {
                event = .failed(job, String(describing: error))
            }
            self.finish(job, token: token, event: event)
        }
    }

    private func finish(_ job: Job, token: CancellationToken, event: Event) {
        lock.withLock {
            if case .attributed(let key, let result) = event { cache[key] = result }
            let byUser = records.first { $0.token === token }?.cancelledByUser ?? false
            records.removeAll { $0.token === token }
            // A superseded job's cancellation is not news to the user; Esc's cancellation is.
            if case .cancelled = event, !byUser, !records.isEmpty { return }
            events.append(event)
        }
    }

    /// Blocks until every submitted job has ended (for the headless report and tests).
    public func wait() {
        queue.sync {}
    }
}
