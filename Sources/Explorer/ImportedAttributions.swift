import Foundation
import Engine

/// A bad attribution file, index or name; one line naming the file and the problem.
public struct AttributionImportError: Error, CustomStringConvertible, Equatable, Sendable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// An attribution map made elsewhere (`agg2exp explain --out`, Captum on another machine), on the
/// model grid and ready to show.
public struct ImportedMap: Sendable {
    public var method: String
    /// Model class index and name.
    public var target: Int
    public var targetName: String
    public var path: String
    public var map: Volume
    /// True when the file was on the scan's grid and was moved onto the model grid.
    public var resampled: Bool

    /// What the explorer shows: the map with its provenance.
    public var display: AttributionDisplay {
        AttributionDisplay(map: map, details: [("source", path),
                                               ("grid", resampled ? "scan grid, moved onto the model grid" : "model grid")],
                           notice: "Opened \(method) → \(targetName) from \(path)")
    }
}

/// Opens attribution maps named by a JSON index or by the file-name convention.
///
/// - Index: `attributions.json` in a directory (or any `.json` file given directly):
///   `{"maps": [{"file": "ig.nii.gz", "method": "integrated-gradients", "target": "liver"}]}`,
///   files relative to the index, targets as class names or indices.
/// - Convention, for NIfTI files given directly or found in a directory without an index:
///   `METHOD__TARGET[__ANYTHING].nii[.gz]` (two underscores between parts), e.g.
///   `gradient__liver.nii.gz` or `captum-ig__3__case07.nii`.
///
/// A map must lie on the model grid or on the scan's grid (then it is moved onto the model grid
/// as the CT was: reoriented and resampled trilinearly for a model.json model; for an nnU-Net
/// folder through nnU-Net's transpose, crop and resampling); any other grid is an error.
public enum AttributionImport {
    public static let indexFile = "attributions.json"

    /// The grids a map may come on and how to move a scan-grid map onto the model grid.
    public struct Grids: Sendable {
        public var model: Grid
        public var scan: Grid
        /// Moves a volume on `scan` onto `model` as the CT was moved.
        public var fromScan: @Sendable (Volume) throws -> Volume

        public init(model: Grid, scan: Grid, fromScan: @escaping @Sendable (Volume) throws -> Volume) {
            self.model = model
            self.scan = scan
            self.fromScan = fromScan
        }

        /// A model.json model: reoriented to `orientation`, resampled (trilinear) to `spacing`.
        public init(model: Grid, scan: Grid, orientation: String, spacing: [Double]) {
            self.init(model: model, scan: scan) { volume in
                let oriented = volume.reoriented(to: orientation)
                return oriented.grid.matches(model) ? oriented : oriented.resampled(toSpacing: spacing)
            }
        }
    }

    /// One entry before reading: which file, and what it is named as.
    struct Entry: Equatable {
        var path: String
        var method: String
        var target: String
    }

    public static func load(_ paths: [String], classNames: [String], grids: Grids) throws(AttributionImportError) -> [ImportedMap] {
        var maps: [ImportedMap] = []
        var seen: [String: String] = [:]
        var all: [Entry] = []
        for path in paths { all += try entries(path) }
        for entry in all {
            let target = try resolveTarget(entry.target, classNames: classNames, file: entry.path)
            let id = "\(entry.method) \(target)"
            if let other = seen[id] {
                throw AttributionImportError("\(entry.path): \(entry.method) for \(classNames[target]) is also given by \(other)")
            }
            seen[id] = entry.path
            let (map, resampled) = try read(entry.path, grids: grids)
            maps.append(ImportedMap(method: entry.method, target: target, targetName: classNames[target], path: entry.path,
                                    map: map, resampled: resampled))
        }
        return maps
    }

    /// The entries a path stands for: an index, a directory (its index, else its NIfTI files by
    /// convention) or one NIfTI file by convention.
    static func entries(_ path: String) throws(AttributionImportError) -> [Entry] {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw AttributionImportError("\(path): no such file or directory")
        }
        if isDirectory.boolValue {
            let index = (path as NSString).appendingPathComponent(indexFile)
            if FileManager.default.fileExists(atPath: index) { return try indexEntries(index) }
            let names = ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? [])
                .filter { isNIfTI($0) && !$0.hasPrefix(".") }.sorted()
            guard !names.isEmpty else {
                throw AttributionImportError("\(path): no \(indexFile) and no .nii/.nii.gz attribution maps")
            }
            var out: [Entry] = []
            for name in names { out.append(try conventionEntry((path as NSString).appendingPathComponent(name))) }
            return out
        }
        if path.hasSuffix(".json") { return try indexEntries(path) }
        guard isNIfTI(path) else {
            throw AttributionImportError("\(path): expected a .nii/.nii.gz map, a .json index or a directory")
        }
        return [try conventionEntry(path)]
    }

    static func isNIfTI(_ name: String) -> Bool { name.hasSuffix(".nii") || name.hasSuffix(".nii.gz") }

    /// METHOD__TARGET[__ANYTHING].nii[.gz] → (method, target).
    static func conventionEntry(_ path: String) throws(AttributionImportError) -> Entry {
        var stem = (path as NSString).lastPathComponent
        for ext in [".nii.gz", ".nii"] where stem.hasSuffix(ext) { stem.removeLast(ext.count) }
        let parts = stem.components(separatedBy: "__")
        guard parts.count >= 2, !parts[0].isEmpty, !parts[1].isEmpty else {
            throw AttributionImportError("\(path): the name is not METHOD__TARGET.nii[.gz] "
                                         + "(e.g. gradient__liver.nii.gz) and no \(indexFile) names it")
        }
        return Entry(path: path, method: parts[0], target: parts[1])
    }

    static func indexEntries(_ path: String) throws(AttributionImportError) -> [Entry] {
        let fail = { (problem: String) in AttributionImportError("\(path): \(problem)") }
        guard let data = FileManager.default.contents(atPath: path) else { throw fail("cannot be read") }
        guard let root = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              let maps = root["maps"] as? [[String: Any]] else {
            throw fail("expected {\"maps\": [{\"file\": …, \"method\": …, \"target\": …}]}")
        }
        guard !maps.isEmpty else { throw fail("\"maps\" is empty") }
        let directory = (path as NSString).deletingLastPathComponent
        var out: [Entry] = []
        for (n, map) in maps.enumerated() {
            guard let file = map["file"] as? String, !file.isEmpty,
                  let method = map["method"] as? String, !method.isEmpty else {
                throw fail("maps[\(n)] needs \"file\" and \"method\" strings")
            }
            let target: String
            if let name = map["target"] as? String {
                target = name
            } else if let index = map["target"] as? Int {
                target = String(index)
            } else {
                throw fail("maps[\(n)] needs \"target\" (a class name or index)")
            }
            let full = file.hasPrefix("/") ? file : (directory as NSString).appendingPathComponent(file)
            out.append(Entry(path: full, method: method, target: target))
        }
        return out
    }

    static func resolveTarget(_ text: String, classNames: [String], file: String) throws(AttributionImportError) -> Int {
        if let i = classNames.firstIndex(of: text) { return i }
        if let i = Int(text), classNames.indices.contains(i) { return i }
        throw AttributionImportError("\(file): target '\(text)' is not a model class (classes: "
                                     + classNames.joined(separator: ", ") + ")")
    }

    /// Reads a map and brings it onto the model grid.
    static func read(_ path: String, grids: Grids) throws(AttributionImportError) -> (Volume, Bool) {
        let volume: Volume
        do {
            volume = try NIfTI.readVolume(path)
        } catch {
            throw AttributionImportError("\(error)")
        }
        if volume.grid.matches(grids.model) { return (Volume(grid: grids.model, voxels: volume.voxels), false) }
        if volume.grid.matches(grids.scan) {
            let moved: Volume
            do {
                moved = try grids.fromScan(Volume(grid: grids.scan, voxels: volume.voxels))
            } catch {
                throw AttributionImportError("\(path): \(error)")
            }
            if moved.grid.matches(grids.model) { return (Volume(grid: grids.model, voxels: moved.voxels), true) }
        }
        throw AttributionImportError("\(path): grid \(volume.grid.summary) is neither the scan's grid "
                                     + "(\(grids.scan.summary)) nor the model's (\(grids.model.summary))")
    }
}
