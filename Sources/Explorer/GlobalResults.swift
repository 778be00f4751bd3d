import Foundation

/// Per-scan aggregation results in the official wide CSV format (one row per scan, columns
/// `{target}_explanation_in_{roi}_mass`), reduced to box plots for the sidebar's global view.
public struct GlobalResults: Sendable {
    public let source: String
    public let patients: [String]
    /// Column name → values in row order (nil where the cell is empty or not a number).
    public let columns: [String: [Double?]]

    public init(csv text: String, source: String) throws {
        self.source = source
        var lines = text.split(whereSeparator: \.isNewline).map(String.init)
        guard !lines.isEmpty else { throw GlobalResultsError(source: source, problem: "the file is empty") }
        let header = lines.removeFirst().split(separator: ",", omittingEmptySubsequences: false)
            .map { $0.trimmingCharacters(in: .whitespaces).trimmingCharacters(in: CharacterSet(charactersIn: "\"")) }
        guard header.contains(where: { $0.hasSuffix("_mass") && $0.contains("_explanation_in_") }) else {
            throw GlobalResultsError(source: source,
                                     problem: "no '<target>_explanation_in_<roi>_mass' columns in the header")
        }
        var patients: [String] = []
        var cols = [[Double?]](repeating: [], count: header.count)
        for (n, line) in lines.enumerated() {
            let cells = line.split(separator: ",", omittingEmptySubsequences: false)
            guard cells.count == header.count else {
                throw GlobalResultsError(source: source, problem: "line \(n + 2) has \(cells.count) fields, "
                                         + "the header has \(header.count)")
            }
            patients.append(String(cells[0]))
            for (c, cell) in cells.enumerated() {
                cols[c].append(Double(cell.trimmingCharacters(in: .whitespaces)).flatMap { $0.isFinite ? $0 : nil })
            }
        }
        self.patients = patients
        var byName: [String: [Double?]] = [:]
        for (c, name) in header.enumerated() { byName[name] = cols[c] }
        columns = byName
    }

    public static func load(path: String) throws -> GlobalResults {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw GlobalResultsError(source: path, problem: "cannot read the file")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw GlobalResultsError(source: path, problem: "not UTF-8 text")
        }
        return try GlobalResults(csv: text, source: path)
    }

    public var scanCount: Int { patients.count }

    /// Box plots of mass for `target`, one per RoI, ranked by median (as the official figures).
    /// `current` is set when a patient ID occurs in the scan's file name.
    public func boxes(target: String, scanPath: String) -> [GlobalBox] {
        let prefix = target + "_explanation_in_"
        let file = (scanPath as NSString).lastPathComponent
        let row = patients.firstIndex { !$0.isEmpty && file.contains($0) }
        var out: [GlobalBox] = []
        for (name, values) in columns where name.hasPrefix(prefix) && name.hasSuffix("_mass") {
            let roi = String(name.dropFirst(prefix.count).dropLast("_mass".count))
            let v = values.compactMap { $0 }.sorted()
            guard !v.isEmpty else { continue }
            out.append(GlobalBox(name: roi, min: v[0], q1: Self.quantile(v, 0.25), median: Self.quantile(v, 0.5),
                                 q3: Self.quantile(v, 0.75), max: v[v.count - 1], current: row.flatMap { values[$0] }))
        }
        return out.sorted { $0.median != $1.median ? $0.median > $1.median : $0.name < $1.name }
    }

    /// Linear-interpolation quantile of sorted values (R's default type 7).
    public static func quantile(_ sorted: [Double], _ p: Double) -> Double {
        let h = Double(sorted.count - 1) * p
        let lo = Int(h.rounded(.down)), hi = min(lo + 1, sorted.count - 1)
        return sorted[lo] + (h - Double(lo)) * (sorted[hi] - sorted[lo])
    }
}

public struct GlobalResultsError: Error, CustomStringConvertible {
    public var source: String
    public var problem: String
    public var description: String { "\(source): \(problem)" }
}
