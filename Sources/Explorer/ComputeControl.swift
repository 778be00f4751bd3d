import Foundation
import Engine

/// What the user decides about background computation: method settings, which long jobs may
/// start, and the method options panel.
public struct ComputeState: Equatable, Sendable {
    /// Settings of every method (each method reads its own options, see `MethodSettings.normalised`).
    public var settings = MethodSettings()
    /// Jobs estimated above this many seconds start only after `y`. Infinite (never ask) unless
    /// the interactive view sets it (`--confirm-above`): a headless report must not wait for a key.
    public var confirmAbove: Double = .infinity
    /// The job held back for confirmation, with its estimate.
    public var pending: PendingJob?
    /// Jobs the user confirmed: coming back to them does not ask again.
    public var confirmed: Set<AnalysisKey> = []
    /// Estimate of the current (method, target, settings) when it had to be computed.
    public var estimate: RuntimeEstimate?
    /// The open options panel (nil: closed).
    public var panel: OptionsPanelState?
    /// `--model` and the model options of the reproducing command line, one word each (empty:
    /// the bundled sample model, which `explain` uses without `--model`).
    public var modelArguments: [String] = []

    public init() {}
}

/// A long job waiting for `y`.
public struct PendingJob: Equatable, Sendable {
    public var key: AnalysisKey
    public var estimate: RuntimeEstimate
}

/// The options panel while it is open: the settings being edited and the selected row.
public struct OptionsPanelState: Equatable, Sendable {
    public var draft: MethodSettings
    public var row = 0
}

/// Requests from the compute keys that the session carries out.
public enum ComputeRequest: Equatable, Sendable {
    /// Start the job waiting for confirmation.
    case confirm
    /// Compute the current map again, bypassing the caches.
    case recompute
    /// Pin or unpin the current job.
    case togglePin
    /// Start the class × segment matrix's batch held back by its total estimate.
    case confirmMatrixBatch
}

extension Explorer {
    /// The compute keys: options panel, confirming a long job, recomputing, pinning.
    mutating func performCompute(_ action: Action) -> Reaction {
        switch action {
        case .openMethodOptions:
            guard !methods.isEmpty else {
                state.message = StatusMessage("No model loaded: no method options", isError: true)
                return .redraw
            }
            guard !MethodOption.rows(for: method).isEmpty else {
                state.message = StatusMessage("\(method) maps are imported: they have no options here", isError: true)
                return .redraw
            }
            state.compute.panel = OptionsPanelState(draft: state.compute.settings)
            return .redraw
        case .confirmCompute:
            guard state.compute.pending != nil else {
                state.message = StatusMessage("No job waits for confirmation")
                return .redraw
            }
            return .compute(.confirm)
        case .recompute:
            guard !methods.isEmpty, !MethodOption.rows(for: method).isEmpty else {
                state.message = StatusMessage("Nothing to recompute here", isError: true)
                return .redraw
            }
            return .compute(.recompute)
        case .togglePin:
            guard progress != nil else {
                state.message = StatusMessage("No job is running to pin", isError: true)
                return .redraw
            }
            return .compute(.togglePin)
        default:
            return .none
        }
    }

    /// Keys while the options panel is open: ↑/↓ choose an option, ←/→ change it, Enter applies
    /// (and recomputes when anything changed), Esc closes without applying.
    mutating func optionsPanelKey(_ key: Key) -> Reaction {
        guard var panel = state.compute.panel else { return .none }
        let rows = MethodOption.rows(for: method)
        guard !rows.isEmpty else {
            state.compute.panel = nil
            return .redraw
        }
        switch key {
        case .up, .char("k"):
            panel.row = (panel.row + rows.count - 1) % rows.count
        case .down, .char("j"), .tab:
            panel.row = (panel.row + 1) % rows.count
        case .left, .char("h"), .char("-"):
            panel.draft = rows[min(panel.row, rows.count - 1)].step(panel.draft, by: -1, method: method)
        case .right, .char("l"), .char("+"):
            panel.draft = rows[min(panel.row, rows.count - 1)].step(panel.draft, by: 1, method: method)
        case .enter:
            state.compute.panel = nil
            let changed = panel.draft.normalised(for: method) != state.compute.settings.normalised(for: method)
            state.compute.settings = panel.draft
            state.message = StatusMessage(changed ? "Options applied: \(method) computes with them"
                                                  : "Options unchanged")
            state.peakIndex = nil
            return changed ? .recompute : .redraw
        case .escape, .char("q"):
            state.compute.panel = nil
            state.message = StatusMessage("Options not applied")
            return .redraw
        default:
            return .none
        }
        state.compute.panel = panel
        return .redraw
    }

    /// The command that reproduces the shown map with `settings` (the panel's draft while it is open).
    public func explainCommand(settings: MethodSettings? = nil) -> String {
        ExplainCommandLine.make(scan: scene.scanPath, modelArguments: state.compute.modelArguments, method: method,
                                target: targetName, settings: settings ?? state.compute.settings,
                                processing: state.processing)
    }

    /// Runtime and, for IG, the completeness delta of the shown map (from its provenance), or the
    /// estimate of a job not computed yet: the sidebar's compute line.
    public var computeSummary: String? {
        if let a = attribution {
            var parts: [String] = []
            if let runtime = a.details.first(where: { $0.0 == "runtime" })?.1 { parts.append(runtime) }
            if let delta = a.details.first(where: { $0.0 == "completeness delta" })?.1 {
                parts.append("completeness Δ " + delta)
            }
            return parts.isEmpty ? nil : parts.joined(separator: " · ")
        }
        if let pending = state.compute.pending {
            return "≈ " + PassCostBook.duration(pending.estimate.seconds) + " · y starts"
        }
        if progress != nil, let e = state.compute.estimate {
            return "≈ " + PassCostBook.duration(e.seconds) + (e.measured ? "" : " (rough)")
        }
        return nil
    }
}

extension ExplorerSession {
    /// Carries out a compute request from the keys.
    func performCompute(_ request: ComputeRequest) {
        guard let controller else { return }
        let key = currentKey
        switch request {
        case .confirm:
            guard let pending = explorer.state.compute.pending else { return }
            explorer.state.compute.confirmed.insert(pending.key)
            explorer.state.compute.pending = nil
            refresh()
        case .recompute:
            explorer.state.compute.pending = nil
            explorer.state.compute.confirmed.insert(key)
            let estimate = controller.provider.estimate(method: key.method, settings: key.settings)
            explorer.state.compute.estimate = estimate
            controller.start(.attribution(key), label: "\(explorer.method) → \(explorer.targetName) (recompute)",
                             estimate: estimate?.seconds, recompute: true)
            explorer.state.message = StatusMessage("Recomputing \(explorer.method) → \(explorer.targetName) "
                                                   + "(caches bypassed); the map shown is replaced when it lands")
        case .confirmMatrixBatch:
            confirmMatrixBatch()
        case .togglePin:
            let job: AnalysisController.Job = controller.runningJob == .attribution(key) || controller.isPinned(.attribution(key))
                ? .attribution(key) : (controller.runningJob ?? .attribution(key))
            guard let pinned = controller.togglePin(job) else {
                explorer.state.message = StatusMessage("No job is running to pin", isError: true)
                return
            }
            explorer.state.message = StatusMessage(pinned
                ? "Pinned: the job runs on when you leave it, and lands in the cache (P unpins)"
                : "Unpinned: leaving its method, target or options cancels the job")
        }
        explorer.progress = controller.progress(shown: currentJob)
    }

    /// The job behind what the explorer shows.
    var currentJob: AnalysisController.Job {
        explorer.scene.labels == nil ? .prediction : .attribution(currentKey)
    }

    /// Holds the job for `key` back when its estimate is above the threshold and the user has not
    /// confirmed it; true when it was held.
    func holdForConfirmation(_ key: AnalysisKey, estimate: RuntimeEstimate?) -> Bool {
        let compute = explorer.state.compute
        guard let estimate, estimate.seconds > compute.confirmAbove, !compute.confirmed.contains(key) else {
            explorer.state.compute.pending = nil
            return false
        }
        explorer.state.compute.pending = PendingJob(key: key, estimate: estimate)
        explorer.state.message = StatusMessage(
            "\(explorer.method) → \(explorer.targetName) needs ≈ \(PassCostBook.duration(estimate.seconds)): "
            + "y starts it, m/n/i choose something else (\(estimate.basis))")
        return true
    }
}
