import Foundation

/// Which mass columns an analysis reads. `abs` is the plain `{c}_explanation_in_{r}_mass` family
/// (whatever processing the table was aggregated with; the released CSV uses |a|). `pos` and `neg`
/// are the `…_mass_pos` / `…_mass_neg` families the official aggregation writes when positive and
/// negative attributions are aggregated separately (pandas merge suffixes).
public enum MassFamily: String, CaseIterable, Sendable {
    case abs, pos, neg

    /// The column-name suffix after `_explanation_in_{roi}`.
    public var measure: String { self == .abs ? "mass" : "mass_\(rawValue)" }

    public func column(target: String, roi: String) -> String {
        "\(target)_explanation_in_\(roi)_\(measure)"
    }
}

/// A problem with the input of a dataset-level analysis; every case names the file or value.
public enum AnalysisError: Error, CustomStringConvertible, Equatable {
    case noMassColumns(file: String, family: MassFamily)
    case missingColumns(file: String, needed: String, columns: [String])
    case unknownTarget(file: String, name: String, valid: [String])
    case tooFewScans(file: String, target: String, count: Int)
    case thresholdOutOfRange(Double)
    case badTopK(Int)
    case tooFewClasses(file: String, count: Int)

    public var description: String {
        switch self {
        case let .noMassColumns(f, family):
            return "\(f): no {target}_explanation_in_{roi}_\(family.measure) columns"
                + (family == .abs ? "" : " (written when positive and negative attributions are aggregated separately)")
        case let .missingColumns(f, needed, columns):
            let shown = columns.prefix(4).map { "\"\($0)\"" }.joined(separator: ", ")
            return "\(f): \(needed) needs columns that are missing: \(shown)"
                + (columns.count > 4 ? " and \(columns.count - 4) more" : "")
        case let .unknownTarget(f, name, valid):
            return "\(f): unknown target \"\(name)\"; valid targets: \(valid.joined(separator: ", "))"
        case let .tooFewScans(f, target, count):
            return "\(f): class \"\(target)\" has \(count) scan\(count == 1 ? "" : "s") with a complete mass vector;"
                + " the outlier model needs at least 2"
        case let .thresholdOutOfRange(v):
            return "cumulative mass threshold \(v) is outside (0, 1]"
        case let .badTopK(k):
            return "--top-k \(k) must be at least 1"
        case let .tooFewClasses(f, count):
            return "\(f): clustering needs at least 2 explained classes, found \(count)"
        }
    }
}

/// Per-scan masses read from a results table: `mass(scan, class, roi)` for one column family.
/// Classes are the explained targets in column order; RoIs the union of their RoIs in column
/// order. Missing values (empty fields, NaN, absent columns) are nil.
public struct MassCube: Sendable {
    public let source: String
    public let family: MassFamily
    public let patients: [String]
    public let classes: [String]
    public let rois: [String]
    /// values[scan][class][roi]
    private let values: [[[Double?]]]

    public init(table: ResultsTable, family: MassFamily = .abs, source: String) throws {
        var classes: [String] = [], rois: [String] = []
        var seenClasses = Set<String>(), seenRoIs = Set<String>()
        var cells: [(c: String, r: String, column: Int)] = []
        for (n, column) in table.columns.enumerated() {
            guard let (c, r) = ResultsColumns.parse(column, measure: family.measure) else { continue }
            if seenClasses.insert(c).inserted { classes.append(c) }
            if seenRoIs.insert(r).inserted { rois.append(r) }
            cells.append((c, r, n))
        }
        guard !cells.isEmpty else { throw AnalysisError.noMassColumns(file: source, family: family) }
        let classIndex = Dictionary(uniqueKeysWithValues: classes.enumerated().map { ($1, $0) })
        let roiIndex = Dictionary(uniqueKeysWithValues: rois.enumerated().map { ($1, $0) })
        var values = [[[Double?]]](repeating: [[Double?]](repeating: [Double?](repeating: nil, count: rois.count),
                                                          count: classes.count),
                                   count: table.patients.count)
        for (p, row) in table.rows.enumerated() {
            for cell in cells { values[p][classIndex[cell.c]!][roiIndex[cell.r]!] = row[cell.column] }
        }
        self.source = source
        self.family = family
        self.patients = table.patients
        self.classes = classes
        self.rois = rois
        self.values = values
    }

    public func mass(scan: Int, target: Int, roi: Int) -> Double? { values[scan][target][roi] }

    /// The values of one (class, RoI) pair over all scans.
    public func distribution(target: Int, roi: Int) -> [Double?] { values.map { $0[target][roi] } }

    public func classIndex(_ name: String) -> Int? { classes.firstIndex(of: name) }
    public func roiIndex(_ name: String) -> Int? { rois.firstIndex(of: name) }

    /// The class index of `name`, or an error listing the valid names.
    public func requireClass(_ name: String) throws -> Int {
        guard let c = classIndex(name) else {
            throw AnalysisError.unknownTarget(file: source, name: name, valid: classes)
        }
        return c
    }

    /// Row of a patient id, if present.
    public func scanIndex(_ patient: String) -> Int? { patients.firstIndex(of: patient) }
}
