import Engine

/// Feeds the matrix and compare mode: rankings of other targets for the current method, and the
/// compare method's map, from the in-memory results or the attribution cache on disk.
extension ExplorerSession {
    /// Identifies a ranking of one stored map.
    struct RankingKey: Hashable {
        var analysis: AnalysisKey
        var processing: AttributionProcessing
    }

    /// The maps on screen: the current (method, target) and, in compare mode, the second method's.
    /// Their jobs survive a refresh.
    var shownKeys: Set<AnalysisKey> {
        var keys: Set<AnalysisKey> = [currentKey]
        if let methodB = explorer.compareMethod { keys.insert(key(method: methodB, target: explorer.state.target)) }
        if let batch = runningBatchKey { keys.insert(batch) }
        return keys
    }

    /// The key of a map under the options in effect (each method keeps only the options it reads).
    func key(method: String, target: Int) -> AnalysisKey {
        AnalysisKey(method: method, target: target, settings: explorer.state.compute.settings)
    }

    /// Brings the matrix's rankings and compare mode's second map up to date (cheap when nothing changed).
    func updateViews() {
        guard let controller, let labels = explorer.scene.labels else { return }
        let processing = explorer.state.processing
        let names = explorer.scene.labelNames
        func ranking(_ key: AnalysisKey, _ display: AttributionDisplay) -> [SegmentScore] {
            let k = RankingKey(analysis: key, processing: processing)
            if let known = rankingMemo[k] { return known }
            let rows = controller.provider.rank(attribution: display.map, segments: labels, processing: processing,
                                                names: names)
            rankingMemo[k] = rows
            return rows
        }
        if explorer.state.matrix != nil {
            var known: [Int: [SegmentScore]] = [:]
            for target in explorer.targetNames.indices where target != explorer.state.target {
                let key = self.key(method: explorer.method, target: target)
                if let memo = rankingMemo[RankingKey(analysis: key, processing: processing)] {
                    known[target] = memo
                } else if let display = controller.cached(key)
                            ?? controller.provider.storedAttribution(method: key.method, target: target, settings: key.settings) {
                    known[target] = ranking(key, display)
                }
            }
            explorer.knownRankings = known
        }
        // Compare mode's second map first, then the matrix batch: one job at a time.
        defer { updateMatrixBatch() }
        guard let methodB = explorer.compareMethod else { return }
        let keyB = self.key(method: methodB, target: explorer.state.target)
        if let display = controller.cached(keyB) {
            explorer.compareAttribution = display
            explorer.compareRows = ranking(keyB, display)
        } else {
            explorer.compareAttribution = nil
            explorer.compareRows = []
            // One job at a time: the second map starts once the first is in.
            if explorer.attribution != nil, controller.runningJob == nil, controller.provider.methods.contains(methodB) {
                controller.start(.attribution(keyB), label: "\(methodB) → \(explorer.targetName) (compare)")
                explorer.progress = controller.progress
            }
        }
    }
}
