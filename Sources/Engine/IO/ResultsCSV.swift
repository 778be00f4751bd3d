import Foundation

/// Column names of the official results schema (MI2DataLab/agg2exp `aggregate_explanations.py`).
public enum ResultsColumns {
    public static let patient = "patient"
    static let explanationIn = "_explanation_in_"

    public static func mass(target: String, roi: String) -> String { "\(target)\(explanationIn)\(roi)_mass" }
    public static func mean(target: String, roi: String) -> String { "\(target)\(explanationIn)\(roi)_mean" }
    /// Population variance of the raw signed map of `target`.
    public static func variance(target: String) -> String { "\(target)_explanation_var" }
    /// Mean of the raw signed map of `target`.
    public static func signedMean(target: String) -> String { "\(target)_explanation_mean" }
    public static func dice(_ name: String) -> String { "\(name)_dice" }
    public static func iou(_ name: String) -> String { "\(name)_iou" }

    /// Splits `{target}_explanation_in_{roi}_mass` (or `_mean` when `measure` says so).
    public static func parse(_ column: String, measure: String = "mass") -> (target: String, roi: String)? {
        let suffix = "_" + measure
        guard column.hasSuffix(suffix), let r = column.range(of: explanationIn) else { return nil }
        let target = String(column[..<r.lowerBound])
        let roi = String(column[r.upperBound..<column.index(column.endIndex, offsetBy: -suffix.count)])
        guard !target.isEmpty, !roi.isEmpty else { return nil }
        return (target, roi)
    }

    /// The official column order: per target its RoIs' mass and mean, then its var and mean;
    /// then every class's IoU, then every class's Dice (when `quality` is true).
    public static func official(targets: [String], rois: [String], qualityClasses: [String]) -> [String] {
        var out: [String] = []
        for t in targets {
            for r in rois {
                out.append(mass(target: t, roi: r))
                out.append(mean(target: t, roi: r))
            }
            out.append(variance(target: t))
            out.append(signedMean(target: t))
        }
        out += qualityClasses.map(iou)
        out += qualityClasses.map(dice)
        return out
    }
}

public enum ResultsCSVError: Error, CustomStringConvertible, Equatable {
    case unreadable(file: String, reason: String)
    case empty(file: String)
    case missingPatientColumn(file: String, found: String)
    case duplicateColumn(file: String, column: String)
    case rowLength(file: String, line: Int, expected: Int, found: Int)
    case badNumber(file: String, line: Int, column: String, text: String)
    case duplicatePatient(file: String, patient: String)
    case mismatchedColumns(file: String, reference: String, missing: [String], extra: [String])
    case unknownColumn(file: String, column: String)

    public var description: String {
        switch self {
        case let .unreadable(f, r): return "\(f): cannot read: \(r)"
        case let .empty(f): return "\(f): empty file (expected a header row starting with \"patient\")"
        case let .missingPatientColumn(f, found):
            return "\(f): the first column must be \"patient\", found \"\(found)\""
        case let .duplicateColumn(f, c): return "\(f): column \"\(c)\" appears twice"
        case let .rowLength(f, l, e, n): return "\(f):\(l): expected \(e) fields, found \(n)"
        case let .badNumber(f, l, c, t): return "\(f):\(l): column \"\(c)\": \"\(t)\" is not a finite number"
        case let .duplicatePatient(f, p): return "\(f): patient \"\(p)\" appears more than once"
        case let .mismatchedColumns(f, ref, missing, extra):
            func list(_ c: [String]) -> String {
                c.prefix(3).map { "\"\($0)\"" }.joined(separator: ", ") + (c.count > 3 ? " and \(c.count - 3) more" : "")
            }
            var parts: [String] = []
            if !missing.isEmpty { parts.append("missing \(list(missing))") }
            if !extra.isEmpty { parts.append("extra \(list(extra))") }
            if parts.isEmpty { parts.append("same columns in a different order") }
            return "\(f): columns differ from \(ref): " + parts.joined(separator: "; ")
        case let .unknownColumn(f, c): return "\(f): no column \"\(c)\""
        }
    }
}

/// A wide results table: one row per scan, first column `patient`, then numeric columns.
/// Missing values (empty fields, NaN) are nil, as pandas writes and reads them.
public struct ResultsTable: Sendable, Equatable {
    public private(set) var columns: [String]
    public private(set) var patients: [String] = []
    /// rows[r][c] is the value of `columns[c]` for `patients[r]`.
    public private(set) var rows: [[Double?]] = []
    private var index: [String: Int]

    public init(columns: [String]) {
        self.columns = columns
        self.index = Dictionary(columns.enumerated().map { ($1, $0) }, uniquingKeysWith: { a, _ in a })
    }

    public func columnIndex(_ name: String) -> Int? { index[name] }

    /// The values of one column, or nil when the table has no such column.
    public func column(_ name: String) -> [Double?]? {
        guard let c = index[name] else { return nil }
        return rows.map { $0[c] }
    }

    /// Appends a row; values not given are missing.
    public mutating func append(patient: String, values: [String: Double?]) throws {
        var row = [Double?](repeating: nil, count: columns.count)
        for (name, value) in values {
            guard let c = index[name] else { throw ResultsCSVError.unknownColumn(file: "row \(patient)", column: name) }
            row[c] = value.flatMap { $0.isNaN ? nil : $0 }
        }
        patients.append(patient)
        rows.append(row)
    }

    /// Parses CSV text (RFC 4180 quoting). `source` names the file in errors.
    public static func parse(_ text: String, source: String) throws -> ResultsTable {
        var records = CSVRecords(text: text)
        guard let header = records.next() else { throw ResultsCSVError.empty(file: source) }
        guard header.fields.first == ResultsColumns.patient else {
            throw ResultsCSVError.missingPatientColumn(file: source, found: header.fields.first ?? "")
        }
        let columns = Array(header.fields.dropFirst())
        var seen = Set<String>()
        for c in columns where !seen.insert(c).inserted { throw ResultsCSVError.duplicateColumn(file: source, column: c) }
        var table = ResultsTable(columns: columns)
        var patients = Set<String>()
        while let record = records.next() {
            if record.fields == [""] { continue } // blank line
            guard record.fields.count == header.fields.count else {
                throw ResultsCSVError.rowLength(file: source, line: record.line, expected: header.fields.count,
                                                found: record.fields.count)
            }
            let patient = record.fields[0]
            guard patients.insert(patient).inserted else {
                throw ResultsCSVError.duplicatePatient(file: source, patient: patient)
            }
            var row: [Double?] = []
            row.reserveCapacity(columns.count)
            for (c, field) in record.fields.dropFirst().enumerated() {
                let f = field.trimmingCharacters(in: .whitespaces)
                if f.isEmpty || f.lowercased() == "nan" {
                    row.append(nil)
                } else if let v = Double(f), v.isFinite {
                    row.append(v)
                } else {
                    throw ResultsCSVError.badNumber(file: source, line: record.line, column: columns[c], text: field)
                }
            }
            table.patients.append(patient)
            table.rows.append(row)
        }
        return table
    }

    public static func read(_ url: URL) throws -> ResultsTable {
        let data: Data
        do {
            try FileChecks.requireRegularFile(url.path)
        } catch {
            throw ResultsCSVError.unreadable(file: url.path, reason: error.problem)
        }
        do {
            data = try Data(contentsOf: url)
        } catch {
            throw ResultsCSVError.unreadable(file: url.path, reason: (error as NSError).localizedDescription)
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw ResultsCSVError.unreadable(file: url.path, reason: "not UTF-8 text")
        }
        return try parse(text, source: url.path)
    }

    /// CSV text: shortest round-trip decimal for numbers, empty fields for missing values.
    public func csvText() -> String {
        var out = headerLine
        for r in rows.indices { out += rowLine(r) }
        return out
    }

    /// The header record with its newline.
    public var headerLine: String {
        ([ResultsColumns.patient] + columns).map(Self.quote).joined(separator: ",") + "\n"
    }

    /// Row `r` as one CSV record with its newline.
    public func rowLine(_ r: Int) -> String {
        var out = Self.quote(patients[r])
        for v in rows[r] {
            out += ","
            if let v { out += "\(v)" }
        }
        return out + "\n"
    }

    /// Writes atomically (temporary file in the same directory, fsync, rename).
    public func write(to url: URL) throws {
        try AtomicFile.write(Data(csvText().utf8), to: url.path)
    }

    /// Rows sorted by patient id, the canonical order for aggregate and merge outputs.
    public func sortedByPatient() -> ResultsTable {
        var out = ResultsTable(columns: columns)
        for r in patients.indices.sorted(by: { patients[$0] < patients[$1] }) {
            out.patients.append(patients[r])
            out.rows.append(rows[r])
        }
        return out
    }

    /// Concatenates tables with identical columns (same names, same order), rows sorted by
    /// patient. `sources` name the tables in errors.
    public static func merge(_ tables: [ResultsTable], sources: [String]) throws -> ResultsTable {
        guard let first = tables.first else { return ResultsTable(columns: []) }
        var out = ResultsTable(columns: first.columns)
        var seen = Set<String>()
        for (t, source) in zip(tables, sources) {
            if t.columns != first.columns {
                let a = Set(first.columns), b = Set(t.columns)
                throw ResultsCSVError.mismatchedColumns(file: source, reference: sources[0],
                                                        missing: first.columns.filter { !b.contains($0) },
                                                        extra: t.columns.filter { !a.contains($0) })
            }
            for (p, row) in zip(t.patients, t.rows) {
                guard seen.insert(p).inserted else { throw ResultsCSVError.duplicatePatient(file: source, patient: p) }
                out.patients.append(p)
                out.rows.append(row)
            }
        }
        return out.sortedByPatient()
    }

    static func quote(_ field: String) -> String {
        guard field.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return field }
        return "\"" + field.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}

/// RFC 4180 record reader that tracks the line each record starts on.
struct CSVRecords {
    private let scalars: [Character]
    private var position = 0
    private var line = 1

    init(text: String) { scalars = Array(text) }

    mutating func next() -> (fields: [String], line: Int)? {
        guard position < scalars.count else { return nil }
        let start = line
        var fields: [String] = []
        var field = ""
        var quoted = false
        while position < scalars.count {
            let c = scalars[position]
            position += 1
            if quoted {
                if c == "\"" {
                    if position < scalars.count, scalars[position] == "\"" {
                        field.append("\"")
                        position += 1
                    } else {
                        quoted = false
                    }
                } else {
                    if c == "\n" || c == "\r\n" { line += 1 }
                    field.append(c)
                }
            } else if c == "\"" && field.isEmpty {
                quoted = true
            } else if c == "," {
                fields.append(field)
                field = ""
            } else if c == "\n" || c == "\r\n" || c == "\r" {
                line += 1
                fields.append(field)
                return (fields, start)
            } else {
                field.append(c)
            }
        }
        fields.append(field)
        return (fields, start)
    }
}
