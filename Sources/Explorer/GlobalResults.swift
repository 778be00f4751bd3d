import Foundation
import Engine

/// A results CSV (official wide format) reduced to box plots for the sidebar's global view.
public struct GlobalResults: Sendable {
    public let source: String
    public let table: ResultsTable
    /// The dataset-level analyses shown on the global pages.
    public let analyses: GlobalAnalyses

    public init(table: ResultsTable, source: String) {
        self.table = table
        self.source = source
        self.analyses = GlobalAnalyses(table: table, source: source)
    }

    public static func load(path: String) throws -> GlobalResults {
        GlobalResults(table: try ResultsTable.read(URL(fileURLWithPath: path)), source: path)
    }

    public var scanCount: Int { table.patients.count }

    /// Box plots of mass for `target`, one per RoI, ranked by median (the official figures' order),
    /// background included (the sidebar filters it). `current` is this scan's value when a
    /// patient ID occurs in the scan's file name. Empty when the CSV has no columns for `target`.
    public func boxes(target: String, scanPath: String) -> [GlobalBox] {
        guard let ranking = try? GlobalStatistics.ranking(target: target, in: table, includeBackground: true) else {
            return []
        }
        let file = (scanPath as NSString).lastPathComponent
        let row = table.patients.firstIndex { !$0.isEmpty && file.contains($0) }
        return ranking.map { r in
            let s = r.summary
            let current = row.flatMap { table.column(ResultsColumns.mass(target: target, roi: r.roi))?[$0] }
            return GlobalBox(name: r.roi, min: s.min, q1: s.q1, median: s.median, q3: s.q3, max: s.max,
                             current: current ?? nil)
        }
    }
}
