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

    /// The attribution map of `method` for class `target`, on the scan grid, with provenance details.
    func attribute(method: String, target: Int,
                   progress: @escaping ProgressHandler, cancel: CancellationToken) throws -> AttributionDisplay

    /// Mass and mean of processed attribution per segment (background included).
    func rank(attribution: Volume, segments: LabelMap, processing: AttributionProcessing, names: [Int32: String]) -> [SegmentScore]

    /// The map of (method, target) when it is already stored (the attribution cache on disk),
    /// without computing anything; nil when it is not.
    func storedAttribution(method: String, target: Int) -> AttributionDisplay?
}

extension AnalysisProvider {
    /// Providers without a store have nothing stored.
    public func storedAttribution(method: String, target: Int) -> AttributionDisplay? { nil }
}

/// Identifies a cached attribution.
public struct AnalysisKey: Hashable, Sendable {
    public var method: String
    public var target: Int

    public init(method: String, target: Int) {
        self.method = method
        self.target = target
    }
}

/// Runs provider work off the UI thread, one job at a time, and caches finished attributions.
///
/// The run loop polls `progress` and `takeEvents()` between frames, so the UI never waits on a
/// computation. Starting a different job cancels the running one.
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

    public let provider: AnalysisProvider
    private let lock = NSLock()
    private var cache: [AnalysisKey: AttributionDisplay] = [:]
    private var running: (job: Job, token: CancellationToken, fraction: Double, label: String, started: Date)?
    private var events: [Event] = []
    private let queue = DispatchQueue(label: "agg2exp.analysis", qos: .userInitiated)

    public init(provider: AnalysisProvider) { self.provider = provider }

    public func cached(_ key: AnalysisKey) -> AttributionDisplay? { lock.withLock { cache[key] } }

    /// Puts a map made elsewhere (an imported file) into the cache, as if it had been computed.
    public func preload(_ key: AnalysisKey, _ display: AttributionDisplay) { lock.withLock { cache[key] = display } }

    /// Targets with a cached map for `method`, ascending.
    public func cachedTargets(method: String) -> [Int] {
        lock.withLock { cache.keys.filter { $0.method == method }.map(\.target).sorted() }
    }

    /// The running job's progress, if any.
    public var progress: ProgressState? {
        lock.withLock {
            running.map {
                let elapsed = Date().timeIntervalSince($0.started)
                // Remaining time at the pace so far; unknown until the first step is done.
                let eta = $0.fraction > 0 && !$0.token.isCancelled ? elapsed * (1 - $0.fraction) / $0.fraction : nil
                return ProgressState(label: $0.token.isCancelled ? "cancelling…" : $0.label, fraction: $0.fraction,
                                     elapsed: elapsed, remaining: eta)
            }
        }
    }

    public var runningJob: Job? { lock.withLock { running?.job } }

    /// Finished, failed and cancelled jobs since the last call.
    public func takeEvents() -> [Event] {
        lock.withLock {
            defer { events = [] }
            return events
        }
    }

    public func cancel() { lock.withLock { running?.token.cancel() } }

    /// Cancels the running attribution unless it computes `key`: leaving a method or target
    /// stops its job instead of letting it run on unseen.
    public func cancelAttribution(otherThan key: AnalysisKey) { cancelAttribution(keeping: [key]) }

    /// Cancels the running attribution unless it computes one of `keys` (what is on screen).
    public func cancelAttribution(keeping keys: Set<AnalysisKey>) {
        lock.withLock {
            if case .attribution(let k)? = running?.job, !keys.contains(k) { running?.token.cancel() }
        }
    }

    /// Starts `job` unless it is already running (or cached).
    public func start(_ job: Job, label: String) {
        let token = CancellationToken()
        let shouldRun: Bool = lock.withLock {
            if running?.job == job { return false }
            if case .attribution(let key) = job, cache[key] != nil { return false }
            running?.token.cancel()
            running = (job, token, 0, label, Date())
            return true
        }
        guard shouldRun else { return }
        let provider = self.provider
        queue.async { [weak self] in
            let progress: ProgressHandler = { [weak self] f in
                self?.lock.withLock { if self?.running?.token === token { self?.running?.fraction = f } }
            }
            let event: Event
            do {
                switch job {
                case .prediction:
                    event = .predicted(try provider.predict(progress: progress, cancel: token))
                case .attribution(let key):
                    let result = try provider.attribute(method: key.method, target: key.target,
                                                        progress: progress, cancel: token)
                    try token.check()
                    event = .attributed(key, result)
                }
            } catch is CancellationError {
                event = .cancelled(job)
            } catch {
                event = .failed(job, String(describing: error))
            }
            self?.finish(job, token: token, event: event)
        }
    }

    private func finish(_ job: Job, token: CancellationToken, event: Event) {
        lock.withLock {
            if case .attributed(let key, let result) = event { cache[key] = result }
            if running?.token === token { running = nil }
            // A superseded job's cancellation is not news to the user.
            if case .cancelled = event, token.isCancelled, running != nil { return }
            events.append(event)
        }
    }

    /// Blocks until the running job ends (for the headless report and tests).
    public func wait() {
        queue.sync {}
    }
}
