import Foundation

/// Names (and optional display colours) of the labels in a segmentation.
public struct LabelTable: Sendable, Equatable {
    public var names: [Int32: String]
    public var colors: [Int32: RGB]

    public init(names: [Int32: String] = [:], colors: [Int32: RGB] = [:]) {
        self.names = names
        self.colors = colors
    }

    /// The label's name, or "label N" when the table has none.
    public func name(for label: Int32) -> String {
        names[label] ?? "label \(label)"
    }

    /// Loads an ITK-SNAP label description, a 3D Slicer colour table or a JSON object
    /// `{"1": "liver", ...}`, recognised from the content rather than the file extension.
    public static func load(_ path: String) throws -> LabelTable {
        let text: String
        if case .other = FileChecks.kind(path) { throw LabelTableError(path: path, kind: .unreadable) }
        if case .directory = FileChecks.kind(path) { throw LabelTableError(path: path, kind: .unreadable) }
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            let kind: LabelTableError.Kind = FileManager.default.fileExists(atPath: path) ? .unreadable : .notFound
            throw LabelTableError(path: path, kind: kind)
        }
        return try parse(text, path: path)
    }

    /// Parses label-name text; `path` only names the source in errors.
    public static func parse(_ text: String, path: String) throws -> LabelTable {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        if trimmed.hasPrefix("{") { return try parseJSON(trimmed, path: path) }
        let lines = text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline)
        let content = lines.enumerated().filter {
            let t = $0.element.trimmingCharacters(in: .whitespaces)
            return !t.isEmpty && !t.hasPrefix("#")
        }
        guard !content.isEmpty else { throw LabelTableError(path: path, kind: .empty) }
        // ITK-SNAP quotes its labels; Slicer tables never do.
        let itk = content.contains { $0.element.contains("\"") }
        var table = LabelTable()
        for (index, line) in content {
            let parsed = itk ? parseITKSNAP(String(line)) : parseSlicer(String(line))
            guard let (id, name, color) = parsed else {
                throw LabelTableError(path: path, kind: .badLine(index + 1, String(line),
                                                                 itk ? "ITK-SNAP" : "3D Slicer"))
            }
            table.names[id] = name
            if let color { table.colors[id] = color }
        }
        return table
    }

    /// `IDX -R- -G- -B- -A-- VIS MSH "LABEL"`.
    private static func parseITKSNAP(_ line: String) -> (Int32, String, RGB?)? {
        guard let open = line.firstIndex(of: "\""), let close = line.lastIndex(of: "\""), open < close else { return nil }
        let name = String(line[line.index(after: open)..<close])
        let fields = line[..<open].split(whereSeparator: \.isWhitespace)
        guard fields.count >= 4, let id = Int32(fields[0]),
              let r = UInt8(fields[1]), let g = UInt8(fields[2]), let b = UInt8(fields[3]) else { return nil }
        return (id, name, RGB(r, g, b))
    }

    /// `id name r g b a`; names have no spaces (Slicer writes underscores).
    private static func parseSlicer(_ line: String) -> (Int32, String, RGB?)? {
        let fields = line.split(whereSeparator: \.isWhitespace)
        guard fields.count >= 2, let id = Int32(fields[0]) else { return nil }
        var color: RGB?
        if fields.count >= 5 {
            guard let r = UInt8(fields[2]), let g = UInt8(fields[3]), let b = UInt8(fields[4]) else { return nil }
            color = RGB(r, g, b)
        }
        return (id, String(fields[1]), color)
    }

    private static func parseJSON(_ text: String, path: String) throws -> LabelTable {
        guard let object = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] else {
            throw LabelTableError(path: path, kind: .badJSON("expected an object {\"1\": \"name\", ...}"))
        }
        var table = LabelTable()
        for (key, value) in object {
            guard let id = Int32(key.trimmingCharacters(in: .whitespaces)) else {
                throw LabelTableError(path: path, kind: .badJSON("key \"\(key)\" is not an integer label"))
            }
            guard let name = value as? String else {
                throw LabelTableError(path: path, kind: .badJSON("value for \"\(key)\" is not a string"))
            }
            table.names[id] = name
        }
        return table
    }
}

/// A label-name file that cannot be used; names the file and the offending line.
public struct LabelTableError: Error, CustomStringConvertible, Equatable, Sendable {
    public enum Kind: Equatable, Sendable {
        case notFound
        case unreadable
        case empty
        case badLine(Int, String, String)
        case badJSON(String)
    }

    public let path: String
    public let kind: Kind

    public var description: String {
        switch kind {
        case .notFound: return "\(path): no such file"
        case .unreadable: return "\(path): cannot read as UTF-8 text"
        case .empty: return "\(path): no labels found"
        case .badLine(let n, let line, let format):
            return "\(path):\(n): not a valid \(format) label line: \(line.trimmingCharacters(in: .whitespaces))"
        case .badJSON(let why): return "\(path): invalid JSON label names: \(why)"
        }
    }
}
