import Foundation

/// The "context" analysis: per class, the distribution over scans of its self-mass mass(c, c),
/// the share of its explanation inside its own predicted segment (METHOD.md §1.6). Classes are
/// ranked by median, largest first, as the official plot orders them (`fct_reorder`).
public struct SelfMass: Sendable, Equatable {
    public struct Row: Sendable, Equatable {
        public var target: String
        public var box: BoxStatistics
        /// Per-scan values in the cube's patient order (nil where missing).
        public var values: [Double?]
    }

    public var rows: [Row]
    public var patients: [String]

    /// Background is left out unless `includeBackground`. Every kept class needs its
    /// `{c}_explanation_in_{c}_mass` column.
    public init(cube: MassCube, includeBackground: Bool = false) throws {
        let classes = cube.classes.filter { includeBackground || $0 != GlobalStatistics.background }
        let missing = classes.filter { cube.roiIndex($0) == nil }.map { cube.family.column(target: $0, roi: $0) }
        guard missing.isEmpty else {
            throw AnalysisError.missingColumns(file: cube.source, needed: "the self-mass (context) analysis",
                                               columns: missing)
        }
        var rows: [Row] = []
        for name in classes {
            let values = cube.distribution(target: cube.classIndex(name)!, roi: cube.roiIndex(name)!)
            if let box = BoxStatistics(values) { rows.append(Row(target: name, box: box, values: values)) }
        }
        self.rows = rows.sorted {
            $0.box.summary.median != $1.box.summary.median ? $0.box.summary.median > $1.box.summary.median
                : $0.target < $1.target
        }
        self.patients = cube.patients
    }

    /// Text box plots on a shared axis from 0 to the largest value, with the median and
    /// quartiles printed; `mark` (a patient id) is drawn as `○` on every row.
    public func text(width: Int = 40, mark: String? = nil) -> String {
        let hi = rows.map(\.box.summary.max).max() ?? 1
        let nameWidth = max(12, rows.map(\.target.count).max() ?? 0) + 1
        let markRow = mark.flatMap { patients.firstIndex(of: $0) }
        var out = "Self-mass mass(c, c) over \(patients.count) scans, ranked by median"
            + (markRow != nil ? " (○ = \(mark!))" : "") + "\n"
        out += "class".padded(nameWidth) + "median      q1      q3  " + TextPlot.axis(lo: 0, hi: hi, width: width) + "\n"
        for r in rows {
            let s = r.box.summary
            let m = markRow.flatMap { r.values[$0] }
            out += r.target.padded(nameWidth) + String(format: "%6.4f  %6.4f  %6.4f  ", s.median, s.q1, s.q3)
                + TextPlot.boxLine(r.box, lo: 0, hi: hi, width: width, mark: m) + "\n"
        }
        return out
    }
}
