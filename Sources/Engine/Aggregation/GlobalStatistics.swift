import Foundation

/// Summary of one (target, RoI) distribution over scans. Quartiles and the median use R's
/// default quantile (type 7: linear interpolation at (n − 1)p), which is what ggplot2's
/// `stat_boxplot` draws in the official figures.
public struct DistributionSummary: Sendable, Equatable {
    public var mean: Double
    public var median: Double
    public var q1: Double
    public var q3: Double
    public var min: Double
    public var max: Double
    /// Number of scans with a defined value (missing values are dropped, as `na.rm = TRUE`).
    public var n: Int

    /// nil when no value is defined.
    public init?(_ values: [Double?]) {
        let v = values.compactMap { $0 }.filter { !$0.isNaN }.sorted()
        guard !v.isEmpty else { return nil }
        mean = v.reduce(0, +) / Double(v.count)
        median = Self.quantile(sorted: v, 0.5)
        q1 = Self.quantile(sorted: v, 0.25)
        q3 = Self.quantile(sorted: v, 0.75)
        min = v[0]
        max = v[v.count - 1]
        n = v.count
    }

    /// R type-7 quantile of ascending values.
    public static func quantile(sorted v: [Double], _ p: Double) -> Double {
        let h = Double(v.count - 1) * p
        let lo = Int(h.rounded(.down))
        let hi = Swift.min(lo + 1, v.count - 1)
        return v[lo] + (h - Double(lo)) * (v[hi] - v[lo])
    }
}

/// One RoI's distribution in a global ranking.
public struct RoISummary: Sendable, Equatable {
    public var roi: String
    public var summary: DistributionSummary
}

public enum GlobalStatisticsError: Error, CustomStringConvertible, Equatable {
    case unknownTarget(name: String, valid: [String])
    case noMassColumns(file: String)

    public var description: String {
        switch self {
        case let .unknownTarget(name, valid):
            return "unknown target \"\(name)\"; valid targets: \(valid.joined(separator: ", "))"
        case let .noMassColumns(file):
            return "\(file): no {target}_explanation_in_{segment}_mass columns"
        }
    }
}

/// Dataset-level (global) Agg²Exp statistics from a wide results table (METHOD.md §1.5).
public enum GlobalStatistics {
    public static let background = "background"

    /// Explained targets with mass columns, in column order.
    public static func targets(in table: ResultsTable) -> [String] { MassColumns(table).targets }

    /// RoIs of `target`'s mass columns, in column order.
    public static func rois(of target: String, in table: ResultsTable) -> [String] {
        MassColumns(table).rois[target] ?? []
    }

    /// The mass columns parsed once, so ranking every target stays linear in the column count.
    struct MassColumns {
        var targets: [String] = []
        var rois: [String: [String]] = [:]

        init(_ table: ResultsTable) {
            for c in table.columns {
                guard let (target, roi) = ResultsColumns.parse(c) else { continue }
                if rois[target] == nil { targets.append(target) }
                rois[target, default: []].append(roi)
            }
        }
    }

    /// Mass distributions of `target` per RoI, ranked by median descending (ties by mean, then
    /// name), as the official boxplots are ordered (`fct_reorder` uses the median). Background
    /// is dropped as an RoI unless `includeBackground`; masses keep their full-volume denominator.
    public static func ranking(target: String, in table: ResultsTable, includeBackground: Bool = false) throws -> [RoISummary] {
        try ranking(target: target, in: table, columns: MassColumns(table), includeBackground: includeBackground)
    }

    static func ranking(target: String, in table: ResultsTable, columns: MassColumns,
                        includeBackground: Bool) throws -> [RoISummary] {
        guard let rois = columns.rois[target] else {
            throw GlobalStatisticsError.unknownTarget(name: target, valid: columns.targets)
        }
        var out: [RoISummary] = []
        for roi in rois where includeBackground || roi != background {
            if let s = DistributionSummary(table.column(ResultsColumns.mass(target: target, roi: roi)) ?? []) {
                out.append(RoISummary(roi: roi, summary: s))
            }
        }
        return out.sorted {
            if $0.summary.median != $1.summary.median { return $0.summary.median > $1.summary.median }
            if $0.summary.mean != $1.summary.mean { return $0.summary.mean > $1.summary.mean }
            return $0.roi < $1.roi
        }
    }

    /// Rankings for `target`, or for every target (background only with `includeBackground`).
    public static func rankings(target: String?, in table: ResultsTable, includeBackground: Bool,
                                source: String) throws -> [(target: String, rois: [RoISummary])] {
        let columns = MassColumns(table)
        let all = columns.targets
        guard !all.isEmpty else { throw GlobalStatisticsError.noMassColumns(file: source) }
        let chosen = target.map { [$0] } ?? all.filter { includeBackground || $0 != background }
        return try chosen.map {
            ($0, try ranking(target: $0, in: table, columns: columns, includeBackground: includeBackground))
        }
    }

    /// `global --json`: {"targets": {T: {"segments": {R: {mean, median, q1, q3, min, max, n}}}}},
    /// targets in the order given and segments in ranking order.
    public static func json(_ rankings: [(target: String, rois: [RoISummary])]) -> String {
        func number(_ v: Double) -> String { v.isFinite ? "\(v)" : "null" }
        let targets = rankings.map { t -> String in
            let segments = t.rois.map { r -> String in
                let s = r.summary
                return "      \(JSONText.string(r.roi)): {\"mean\": \(number(s.mean)), \"median\": \(number(s.median)), "
                    + "\"q1\": \(number(s.q1)), \"q3\": \(number(s.q3)), \"min\": \(number(s.min)), "
                    + "\"max\": \(number(s.max)), \"n\": \(s.n)}"
            }
            return "    \(JSONText.string(t.target)): {\"segments\": {\n" + segments.joined(separator: ",\n") + "\n    }}"
        }
        return "{\"targets\": {\n" + targets.joined(separator: ",\n") + "\n}}\n"
    }
}

/// Minimal JSON text helpers for outputs whose key order carries meaning (rankings).
public enum JSONText {
    public static func string(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if u.value < 0x20 { out += String(format: "\\u%04x", u.value) } else { out.unicodeScalars.append(u) }
            }
        }
        return out + "\""
    }

    public static func number(_ v: Double?) -> String {
        guard let v, v.isFinite else { return "null" }
        return "\(v)"
    }
}
