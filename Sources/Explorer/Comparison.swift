import Engine

/// Two methods' rankings of the same target side by side, and how well they agree.
public struct Comparison: Equatable, Sendable {
    /// One segment: its rank and value under each method (nil where that ranking lacks it).
    public struct Row: Equatable, Sendable {
        public var label: Int32
        public var name: String
        public var rankA: Int?
        public var rankB: Int?
        public var valueA: Double?
        public var valueB: Double?
    }

    public var methodA: String
    public var methodB: String
    /// Segments in method A's order, then any only method B ranks.
    public var rows: [Row]
    /// Spearman's ρ of the two value columns (average ranks for ties, as scipy's `spearmanr`);
    /// nil when fewer than two segments have both values or one side is constant.
    public var rho: Double?
    /// Segments with a value under both methods (what ρ is computed over).
    public var paired: Int
}

extension Explorer {
    /// The second method of compare mode: never the current method.
    public var compareMethod: String? {
        guard let b = state.compareMethodIndex, methods.count > 1 else { return nil }
        var i = b % methods.count
        if i == state.methodIndex % methods.count { i = (i + 1) % methods.count }
        return methods[i]
    }

    /// The current method against the compare method for the current target, once both rankings
    /// are in (nil otherwise).
    public var comparison: Comparison? {
        guard let methodB = compareMethod, attribution != nil, compareAttribution != nil,
              !rows.isEmpty, !compareRows.isEmpty else { return nil }
        let key = rankValue
        let a = ranked(rows), b = ranked(compareRows)
        let rankB = Dictionary(b.enumerated().map { ($1.label, ($0 + 1, key($1))) }, uniquingKeysWith: { x, _ in x })
        var out = a.enumerated().map { i, s in
            Comparison.Row(label: s.label, name: s.name, rankA: i + 1, rankB: rankB[s.label]?.0,
                           valueA: key(s), valueB: rankB[s.label]?.1 ?? nil)
        }
        let inA = Set(a.map(\.label))
        for (i, s) in b.enumerated() where !inA.contains(s.label) {
            out.append(Comparison.Row(label: s.label, name: s.name, rankA: nil, rankB: i + 1, valueA: nil, valueB: key(s)))
        }
        let valuesA = out.map(\.valueA), valuesB = out.map(\.valueB)
        let paired = zip(valuesA, valuesB).filter { $0 != nil && $1 != nil }.count
        return Comparison(methodA: method, methodB: methodB, rows: out,
                          rho: RankCorrelation.spearman(valuesA, valuesB), paired: paired)
    }
}
