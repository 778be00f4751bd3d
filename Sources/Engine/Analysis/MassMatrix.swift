import Foundation

/// Which per-(class, RoI) summary over scans a global matrix holds.
public enum MatrixStatistic: String, CaseIterable, Sendable {
    /// R's `mean(na.rm = TRUE)`, the official global matrix.
    case mean
    /// R type-7 median, the order of the official box plots.
    case median
}

/// The global class × RoI matrix: E[c, r] = statistic over scans of mass(c, r) (METHOD.md §1.5).
/// Rows are explained classes, columns RoIs; nil where no scan has a value.
public struct MassMatrix: Sendable, Equatable {
    public var statistic: MatrixStatistic
    public var family: MassFamily
    public var rows: [String]
    public var columns: [String]
    public var values: [[Double?]]
    public var scanCount: Int

    /// Background is left out as a class and as an RoI unless `includeBackground` (the official
    /// figures drop it); masses keep their full-volume denominator either way.
    public init(cube: MassCube, statistic: MatrixStatistic = .mean, includeBackground: Bool = false) {
        let keep = { (name: String) in includeBackground || name != GlobalStatistics.background }
        let rowIndices = cube.classes.indices.filter { keep(cube.classes[$0]) }
        let columnIndices = cube.rois.indices.filter { keep(cube.rois[$0]) }
        self.statistic = statistic
        self.family = cube.family
        self.rows = rowIndices.map { cube.classes[$0] }
        self.columns = columnIndices.map { cube.rois[$0] }
        self.scanCount = cube.patients.count
        self.values = rowIndices.map { c in
            columnIndices.map { r in
                DistributionSummary(cube.distribution(target: c, roi: r)).map {
                    statistic == .mean ? $0.mean : $0.median
                }
            }
        }
    }

    public func value(_ row: String, _ column: String) -> Double? {
        guard let r = rows.firstIndex(of: row), let c = columns.firstIndex(of: column) else { return nil }
        return values[r][c]
    }

    /// Largest defined value.
    public var maximum: Double { values.joined().compactMap { $0 }.max() ?? 0 }

    /// CSV: `explained_class` then one column per RoI; empty fields for missing values.
    public func csvText() -> String {
        var out = (["explained_class"] + columns).map(ResultsTable.quote).joined(separator: ",") + "\n"
        for (name, row) in zip(rows, values) {
            out += ResultsTable.quote(name) + row.map { v in v.map { "\($0)" } ?? "" }.map { "," + $0 }.joined() + "\n"
        }
        return out
    }

    /// Text heatmap: each cell is the value to three decimals and a shade glyph (√ scale against
    /// the largest value, so small masses stay visible next to large ones). RoI columns are
    /// headed by short names with a legend underneath. `marked` rows get a `▶`; `extraRows`
    /// (e.g. one scan's own masses) are printed under the matrix on the same columns.
    public func textHeatmap(marked: Set<String> = [], extraRows: [(label: String, values: [Double?])] = []) -> String {
        let labelWidth = max(15, (rows + extraRows.map(\.label)).map(\.count).max() ?? 0) + 1 + (marked.isEmpty ? 0 : 2)
        let short = columns.map(ClassNames.short)
        let cell = max(6, (short.map(\.count).max() ?? 0) + 1)
        let top = maximum
        var out = "Global \(statistic.rawValue) mass over \(scanCount) scans (…_\(family.measure) columns);"
            + " rows: explained class, columns: RoI\n"
        out += "".padded(labelWidth) + short.map { $0.leftPadded(cell) }.joined() + "\n"
        for (name, row) in zip(rows, values) + extraRows.map({ ($0.label, $0.values) }) {
            out += ((marked.isEmpty ? "" : marked.contains(name) ? "▶ " : "  ") + name).padded(labelWidth)
            for v in row {
                guard let v else { out += "–".leftPadded(cell); continue }
                out += (TextPlot.decimal3(v) + String(TextPlot.shade(top > 0 ? (v / top).squareRoot() : 0)))
                    .leftPadded(cell)
            }
            out += "\n"
        }
        out += "RoIs: " + zip(short, columns).filter { $0 != $1 }.map { "\($0) \($1)" }.joined(separator: ", ") + "\n"
        return out
    }
}

/// Short names of the official classes for narrow table columns.
public enum ClassNames {
    static let abbreviations: [String: String] = [
        "background": "bg", "lung_upper_lobe_left": "LUL", "lung_lower_lobe_left": "LLL",
        "lung_upper_lobe_right": "RUL", "lung_middle_lobe_right": "RML", "lung_lower_lobe_right": "RLL",
        "trachea": "trach", "pulmonary_vein": "pv", "thyroid_gland": "thyr", "vertebraes": "vert",
        "autochthon_left": "autL", "autochthon_right": "autR", "sternum": "stern", "costal_cartilages": "cc",
    ]

    /// The official abbreviation (as in METHOD.md's matrix), else the first five characters.
    public static func short(_ name: String) -> String {
        abbreviations[name] ?? String(name.prefix(5))
    }

    /// Display form for figures: underscores become spaces, as the official plots show names.
    public static func display(_ name: String) -> String { name.replacingOccurrences(of: "_", with: " ") }
}
