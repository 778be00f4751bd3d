import Foundation

/// Anatomical groups that colour classes in every dataset-level figure, as the official analysis
/// does (`dict_class_group` / `dict_group_color` in `analyse_tcsnet.R`). JSON form:
/// `{"groups": {"cardiovascular": "#DB4437", ...}, "classes": {"aorta": "cardiovascular", ...}}`.
/// Classes not listed are drawn in `ungroupedColour`.
public struct AnatomicalGroups: Sendable, Equatable {
    /// Group names in file order (legend order) with their colours.
    public var groups: [(name: String, colour: RGB)]
    public var classGroup: [String: String]

    public static let ungroupedColour = RGB(0x33, 0x33, 0x33)

    public static func == (a: AnatomicalGroups, b: AnatomicalGroups) -> Bool {
        a.groups.map(\.name) == b.groups.map(\.name) && a.groups.map(\.colour) == b.groups.map(\.colour)
            && a.classGroup == b.classGroup
    }

    public func group(of name: String) -> String? { classGroup[name] }

    public func colour(of name: String) -> RGB {
        guard let g = classGroup[name], let entry = groups.first(where: { $0.name == g }) else {
            return Self.ungroupedColour
        }
        return entry.colour
    }

    /// Groups that at least one of `classes` belongs to, in legend order.
    public func groupsUsed(by classes: [String]) -> [(name: String, colour: RGB)] {
        let used = Set(classes.compactMap { classGroup[$0] })
        return groups.filter { used.contains($0.name) }
    }

    /// The mapping of the official analysis for the 17 TotalSegmentator v2 thorax classes
    /// (grey50 is #7F7F7F). `SampleData/anatomical_groups_tsv2.json` holds the same text.
    public static let defaultJSON = """
        {
          "groups": {
            "cardiovascular": "#DB4437",
            "muscles": "#F4B400",
            "skeleton": "#4285F4",
            "other organs": "#7F7F7F",
            "pathology": "#000000"
          },
          "classes": {
            "aorta": "cardiovascular",
            "heart": "cardiovascular",
            "pulmonary_vein": "cardiovascular",
            "autochthon_left": "muscles",
            "autochthon_right": "muscles",
            "ribs": "skeleton",
            "vertebraes": "skeleton",
            "sternum": "skeleton",
            "costal_cartilages": "skeleton",
            "lung_upper_lobe_left": "other organs",
            "lung_lower_lobe_left": "other organs",
            "lung_upper_lobe_right": "other organs",
            "lung_middle_lobe_right": "other organs",
            "lung_lower_lobe_right": "other organs",
            "trachea": "other organs",
            "thyroid_gland": "other organs",
            "pleural_effusion": "pathology",
            "consolidation": "pathology"
          }
        }

        """

    public static let `default`: AnatomicalGroups = {
        do { return try parse(Data(defaultJSON.utf8), path: "built-in groups") } catch {
            preconditionFailure("built-in anatomical groups do not parse: \(error)")
        }
    }()

    public static func load(_ path: String) throws -> AnatomicalGroups {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw LabelGroupsError(path: path, problem: FileManager.default.fileExists(atPath: path)
                                   ? "cannot be read" : "no such file")
        }
        return try parse(data, path: path)
    }

    /// Parses the JSON, keeping the file's group order (JSONSerialization does not, so the group
    /// keys are ordered by where they occur in the text).
    public static func parse(_ data: Data, path: String) throws -> AnatomicalGroups {
        func fail(_ problem: String) -> LabelGroupsError { LabelGroupsError(path: path, problem: problem) }
        guard let object = try? JSONSerialization.jsonObject(with: data), let root = object as? [String: Any] else {
            throw fail("not a JSON object")
        }
        guard let groupObject = root["groups"] as? [String: Any], !groupObject.isEmpty else {
            throw fail("\"groups\" must be a non-empty object of group name → \"#rrggbb\"")
        }
        guard let classObject = root["classes"] as? [String: Any] else {
            throw fail("\"classes\" must be an object of class name → group name")
        }
        let text = String(decoding: data, as: UTF8.self)
        func position(_ key: String) -> String.Index {
            text.range(of: JSONText.string(key))?.lowerBound ?? text.endIndex
        }
        var groups: [(name: String, colour: RGB)] = []
        for name in groupObject.keys.sorted(by: { (position($0), $0) < (position($1), $1) }) {
            guard let hex = groupObject[name] as? String, let colour = RGB(hex: hex) else {
                throw fail("colour of group \"\(name)\" must be \"#rrggbb\"")
            }
            groups.append((name, colour))
        }
        var classGroup: [String: String] = [:]
        for (name, value) in classObject {
            guard let g = value as? String else { throw fail("group of class \"\(name)\" must be a string") }
            guard groupObject[g] != nil else { throw fail("class \"\(name)\" names unknown group \"\(g)\"") }
            classGroup[name] = g
        }
        return AnatomicalGroups(groups: groups, classGroup: classGroup)
    }

    /// Checks a user's groups file against the classes and RoIs of the data: a class that the
    /// data does not have is a typo or the wrong file.
    public func validate(against names: [String], path: String) throws {
        let known = Set(names)
        let unknown = classGroup.keys.filter { !known.contains($0) }.sorted()
        guard unknown.isEmpty else {
            let shown = unknown.prefix(4).map { "\"\($0)\"" }.joined(separator: ", ")
            throw LabelGroupsError(path: path, problem: "names classes that are not in the results: \(shown)"
                                   + (unknown.count > 4 ? " and \(unknown.count - 4) more" : ""))
        }
    }
}
