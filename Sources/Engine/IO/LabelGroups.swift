import Foundation

/// A grouping of fine-grained ground-truth labels (e.g. TotalSegmentator ids) into a model's
/// classes, as in `SampleData/model/label_groups.json`:
/// `{"classes": [...], "label_to_class": {"5": 1, ...}, "label_names": {"5": "liver", ...}}`.
/// Labels missing from `label_to_class` belong to class 0, so a grouped map can be scored
/// against a model's prediction.
public struct LabelGroups: Sendable, Equatable {
    public var classes: [String]
    public var labelToClass: [Int32: Int32]
    public var labelNames: [Int32: String]

    public init(classes: [String], labelToClass: [Int32: Int32], labelNames: [Int32: String] = [:]) {
        self.classes = classes
        self.labelToClass = labelToClass
        self.labelNames = labelNames
    }

    /// The class of a ground-truth label; 0 when the label is not listed.
    public func classIndex(of label: Int32) -> Int32 {
        labelToClass[label] ?? 0
    }

    /// The label map with every label replaced by its class.
    public func grouped(_ labels: LabelMap) -> LabelMap {
        LabelMap(grid: labels.grid, labels: labels.labels.map(classIndex(of:)))
    }

    public static func load(_ path: String) throws -> LabelGroups {
        let data: Data
        do {
            try FileChecks.requireRegularFile(path)
        } catch {
            throw LabelGroupsError(path: path, problem: error.problem)
        }
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw LabelGroupsError(path: path, problem: "cannot be read")
        }
        return try parse(data, path: path)
    }

    /// Parses the JSON; `path` only names the source in errors.
    public static func parse(_ data: Data, path: String) throws -> LabelGroups {
        func fail(_ problem: String) -> LabelGroupsError { LabelGroupsError(path: path, problem: problem) }
        guard let object = try? JSONSerialization.jsonObject(with: data), let root = object as? [String: Any] else {
            throw fail("not a JSON object")
        }
        guard let classes = root["classes"] as? [String], !classes.isEmpty else {
            throw fail("\"classes\" must be a non-empty array of names")
        }
        guard let mapping = root["label_to_class"] as? [String: Any] else {
            throw fail("\"label_to_class\" must be an object of label id → class index")
        }
        var labelToClass: [Int32: Int32] = [:]
        for (key, value) in mapping {
            guard let label = Int32(key) else { throw fail("label id \"\(key)\" is not an integer") }
            guard let number = value as? NSNumber, let index = Int32(exactly: number.doubleValue),
                  index >= 0, Int(index) < classes.count else {
                throw fail("class of label \(key) must be an integer in 0..<\(classes.count)")
            }
            labelToClass[label] = index
        }
        var labelNames: [Int32: String] = [:]
        if let names = root["label_names"] {
            guard let names = names as? [String: Any] else { throw fail("\"label_names\" must be an object") }
            for (key, value) in names {
                guard let label = Int32(key), let name = value as? String else {
                    throw fail("label_names entry \"\(key)\" must map an integer id to a string")
                }
                labelNames[label] = name
            }
        }
        return LabelGroups(classes: classes, labelToClass: labelToClass, labelNames: labelNames)
    }
}

/// A label-groups file that cannot be used; names the file and the problem.
public struct LabelGroupsError: Error, CustomStringConvertible, Equatable, Sendable {
    public let path: String
    public let problem: String

    public init(path: String, problem: String) {
        self.path = path
        self.problem = problem
    }

    public var description: String { "\(path): \(problem)" }
}
