import Foundation

/// What `agg2exp info` reports about a NIfTI file.
public struct NIfTIInfo: Sendable {
    public struct LabelCount: Sendable, Equatable {
        public var label: Int32
        public var name: String
        public var voxels: Int

        public init(label: Int32, name: String, voxels: Int) {
            self.label = label
            self.name = name
            self.voxels = voxels
        }
    }

    public var header: NIfTIHeader
    public var valueRange: ClosedRange<Double>?
    public var nanCount: Int
    public var infCount: Int
    /// Present when the file was read as a label map: every label (including 0) with its count.
    public var labels: [LabelCount]?
    /// The names file that was used, if any.
    public var labelNamesPath: String?

    /// Integer files with at most this many distinct non-negative values are shown as label maps.
    public static let maxAutoLabels = 256

    /// Reads `path`. It is treated as a label map when `asLabels` is set, when `labelNamesPath` is
    /// given, or when it is integer-typed with few distinct non-negative values. The sample
    /// segmentation picks up the sample's names file by itself.
    public static func inspect(_ path: String, labelNamesPath: String? = nil, asLabels: Bool = false) throws -> NIfTIInfo {
        let read = try NIfTI.readVolumeWithReport(path)
        var info = NIfTIInfo(header: read.header, valueRange: nil, nanCount: read.nanCount, infCount: read.infCount)
        var lo = Double.infinity, hi = -Double.infinity
        for v in read.volume.voxels where v.isFinite {
            lo = min(lo, Double(v))
            hi = max(hi, Double(v))
        }
        if lo <= hi { info.valueRange = lo...hi }

        let namesPath = labelNamesPath ?? sampleNamesPath(for: path)
        var treatAsLabels = asLabels || labelNamesPath != nil
        if !treatAsLabels, read.header.datatype.isInteger, read.header.scaling == nil, lo >= 0 {
            var distinct = Set<Float>()
            for v in read.volume.voxels {
                distinct.insert(v)
                if distinct.count > maxAutoLabels { break }
            }
            treatAsLabels = distinct.count <= maxAutoLabels
        }
        guard treatAsLabels else { return info }

        let labelMap = try NIfTI.readLabelMap(path)
        let table = try namesPath.map { try LabelTable.load($0) } ?? LabelTable()
        var counts: [Int32: Int] = [:]
        for l in labelMap.labels { counts[l, default: 0] += 1 }
        info.labels = counts.keys.sorted().map { LabelCount(label: $0, name: $0 == 0 ? "background" : table.name(for: $0), voxels: counts[$0]!) }
        info.labelNamesPath = namesPath
        return info
    }

    /// The sample names file when `path` is the bundled sample segmentation.
    private static func sampleNamesPath(for path: String) -> String? {
        guard let sample = SampleData.labelsPath, let names = SampleData.labelNamesPath,
              FileManager.default.fileExists(atPath: names) else { return nil }
        let a = URL(fileURLWithPath: path).resolvingSymlinksInPath().standardizedFileURL.path
        let b = URL(fileURLWithPath: sample).resolvingSymlinksInPath().standardizedFileURL.path
        return a == b ? names : nil
    }

    /// Human-readable report, one fact per line.
    public func render() -> String {
        let h = header
        let grid = h.grid
        func num(_ v: Double) -> String {
            v == v.rounded() && abs(v) < 1e9 ? String(Int(v)) : String(format: "%.6g", v)
        }
        var lines: [String] = []
        let compression = h.path.hasSuffix(".gz") ? ", gzip" : ""
        lines.append("file         \(h.path)")
        lines.append("format       NIfTI-\(h.version)\(compression)")
        lines.append("dims         \(h.dims.map(String.init).joined(separator: " × "))")
        lines.append("datatype     \(h.datatype.name)")
        lines.append("spacing      \(grid.spacing.map(num).joined(separator: " × ")) mm")
        lines.append("orientation  \(Orientation.code(for: h.affine))")
        lines.append("sform_code   \(h.sformCode) (\(Self.xformName(h.sformCode)))")
        lines.append("qform_code   \(h.qformCode) (\(Self.xformName(h.qformCode)))")
        lines.append("affine       from \(h.affineSource.rawValue) (voxel → world, RAS mm)")
        for r in 0..<4 {
            lines.append("             " + (0..<4).map { String(format: "%11.4f", h.affine[r, $0]) }.joined(separator: " "))
        }
        if let s = h.scaling {
            lines.append("scaling      value × \(num(s.slope)) + \(num(s.intercept))")
        }
        if let r = valueRange {
            lines.append("value range  \(num(r.lowerBound)) … \(num(r.upperBound))")
        } else {
            lines.append("value range  none (no finite voxels)")
        }
        lines.append("non-finite   \(nanCount) NaN, \(infCount) Inf")
        if let labels {
            let structures = labels.filter { $0.label != 0 }
            let voxelML = grid.spacing.reduce(1, *) / 1000
            lines.append("label map    \(structures.count) structures" + (labelNamesPath.map { ", names from \($0)" } ?? ""))
            let width = max(5, labels.map { $0.name.count }.max() ?? 0)
            lines.append("  label  " + "name".padding(toLength: width, withPad: " ", startingAt: 0) + "     voxels        mL")
            for l in labels {
                lines.append(String(format: "  %5d  ", l.label) + l.name.padding(toLength: width, withPad: " ", startingAt: 0)
                             + String(format: " %10d %9.1f", l.voxels, Double(l.voxels) * voxelML))
            }
        }
        return lines.joined(separator: "\n")
    }

    private static func xformName(_ code: Int) -> String {
        switch code {
        case 0: return "unknown"
        case 1: return "scanner"
        case 2: return "aligned"
        case 3: return "Talairach"
        case 4: return "MNI"
        case 5: return "template"
        default: return "invalid"
        }
    }
}
