import Foundation
import Engine

/// What the explorer shows: the scan, the label map (given or predicted) and its names.
public struct Scene: Sendable {
    public var scanPath: String
    public var ct: Volume
    public var labels: LabelMap?
    /// Where `labels` came from, for the report ("file <path>" or "model prediction").
    public var labelSource: String
    public var labelNames: [Int32: String]
    public var labelColors: [Int32: RGB]
    /// `labelSource` of a label map that came from the model.
    public static let predictionSource = "model prediction"

    /// Voxel centroid of each label (computed once per label map).
    public private(set) var centroids: [Int32: [Int]] = [:]
    /// The voxel of each label nearest its centroid (physical distance): where the sidebar jumps,
    /// always inside the segment.
    public private(set) var anchors: [Int32: [Int]] = [:]
    /// Voxels per label, background included.
    public private(set) var voxelCounts: [Int32: Int] = [:]

    public init(scanPath: String, ct: Volume, labels: LabelMap? = nil, labelSource: String = "",
                labelNames: [Int32: String] = [:], labelColors: [Int32: RGB] = [:]) {
        self.scanPath = scanPath
        self.ct = ct
        self.labelSource = labelSource
        self.labelNames = labelNames
        self.labelColors = labelColors
        setLabels(labels, source: labelSource)
    }

    /// Replaces the label map (e.g. when the prediction arrives) and recomputes centroids.
    public mutating func setLabels(_ map: LabelMap?, source: String) {
        labels = map
        labelSource = source
        centroids = [:]
        anchors = [:]
        voxelCounts = [:]
        guard let map else { return }
        // Per-label sums in slots; labels run along i, so the slot is looked up only when it changes.
        var slots: [Int32: Int] = [:]
        var order: [Int32] = []
        var sums: [(i: Double, j: Double, k: Double, count: Int)] = []
        let d = map.grid.dims
        map.labels.withUnsafeBufferPointer { buf in
            var n = 0
            var (last, slot): (Int32, Int) = (0, -1)
            for k in 0..<d[2] {
                for j in 0..<d[1] {
                    for i in 0..<d[0] {
                        let l = buf[n]
                        n += 1
                        if l == 0 { continue }
                        if l != last {
                            if let s = slots[l] {
                                slot = s
                            } else {
                                slot = order.count
                                slots[l] = slot
                                order.append(l)
                                sums.append((0, 0, 0, 0))
                            }
                            last = l
                        }
                        sums[slot].i += Double(i)
                        sums[slot].j += Double(j)
                        sums[slot].k += Double(k)
                        sums[slot].count += 1
                    }
                }
            }
        }
        let mean = sums.map { s in (s.i / Double(s.count), s.j / Double(s.count), s.k / Double(s.count)) }
        var labelled = 0
        for (s, l) in order.enumerated() {
            centroids[l] = [Int(mean[s].0.rounded()), Int(mean[s].1.rounded()), Int(mean[s].2.rounded())]
            voxelCounts[l] = sums[s].count
            labelled += sums[s].count
        }
        voxelCounts[0] = map.labels.count - labelled
        if voxelCounts[0] == 0 { voxelCounts[0] = nil }
        let sp = map.grid.spacing.map { $0 > 0 && $0.isFinite ? $0 : 1 }
        var best = [(distance: Double, index: Int)](repeating: (.infinity, 0), count: order.count)
        map.labels.withUnsafeBufferPointer { buf in
            var n = 0
            var (last, slot): (Int32, Int) = (0, -1)
            for k in 0..<d[2] {
                for j in 0..<d[1] {
                    for i in 0..<d[0] {
                        let l = buf[n]
                        defer { n += 1 }
                        if l == 0 { continue }
                        if l != last { (last, slot) = (l, slots[l]!) }
                        let m = mean[slot]
                        let (di, dj, dk) = ((Double(i) - m.0) * sp[0], (Double(j) - m.1) * sp[1], (Double(k) - m.2) * sp[2])
                        let dist = di * di + dj * dj + dk * dk
                        if dist < best[slot].distance { best[slot] = (dist, n) }
                    }
                }
            }
        }
        for (s, l) in order.enumerated() {
            let n = best[s].index
            anchors[l] = [n % d[0], n / d[0] % d[1], n / (d[0] * d[1])]
        }
    }

    public func labelName(_ label: Int32) -> String {
        labelNames[label] ?? (label == 0 ? "background" : "label \(label)")
    }

    public func label(at p: [Int]) -> Int32? {
        guard let labels, labels.grid.contains(p[0], p[1], p[2]) else { return nil }
        return labels[p[0], p[1], p[2]]
    }
}

/// Distribution of one RoI's mass across the scans of a results CSV (for the `--global` sidebar).
public struct GlobalBox: Equatable, Sendable {
    public var name: String
    public var min: Double, q1: Double, median: Double, q3: Double, max: Double
    /// This scan's value when the CSV has a row for it.
    public var current: Double?

    public init(name: String, min: Double, q1: Double, median: Double, q3: Double, max: Double, current: Double?) {
        self.name = name
        self.min = min
        self.q1 = q1
        self.median = median
        self.q3 = q3
        self.max = max
        self.current = current
    }
}

/// An attribution volume plus the statistics the heatmap and status line need.
public struct AttributionDisplay: Sendable {
    public var map: Volume
    /// Method options, seed, completeness delta… as ordered key/value pairs for the report.
    public var details: [(String, String)]
    /// Where the map came from when that is news to the user (the on-disk cache, an imported file,
    /// a damaged cache entry that was recomputed), shown once in the status line.
    public var notice: String?
    public let maxAbs: Float
    /// |a| of every voxel, ascending: percentiles by binary search.
    public let sortedAbs: [Float]

    public init(map: Volume, details: [(String, String)] = [], notice: String? = nil) {
        self.map = map
        self.details = details
        self.notice = notice
        sortedAbs = Self.sortedMagnitudes(map.voxels)
        maxAbs = sortedAbs.last ?? 0
    }

    /// |v| of every value (non-finite as 0), ascending. Non-negative floats order like their bit
    /// patterns, so an LSD radix sort on the bits (three 11-bit digits) does it in linear time:
    /// several times faster than a comparison sort on a 1.4 M-voxel map, and a map is sorted every
    /// time one is shown, including straight from the cache. One pass takes the magnitudes and
    /// counts all three digits; each of three passes then scatters by one digit, the last one
    /// into the result.
    static func sortedMagnitudes(_ values: [Float]) -> [Float] {
        let n = values.count
        let radix = 2048
        var keys = [UInt32](repeating: 0, count: n)
        var spare = [UInt32](repeating: 0, count: n)
        var result = [Float](repeating: 0, count: n)
        var counts = [Int](repeating: 0, count: 3 * radix)
        values.withUnsafeBufferPointer { src in
            keys.withUnsafeMutableBufferPointer { k in
                counts.withUnsafeMutableBufferPointer { c in
                    for i in 0..<n {
                        let v = src[i]
                        let bits = (v.isFinite ? Swift.abs(v) : 0).bitPattern
                        k[i] = bits
                        c[Int(bits & 0x7FF)] += 1
                        c[radix + Int((bits >> 11) & 0x7FF)] += 1
                        c[2 * radix + Int(bits >> 22)] += 1
                    }
                    // Counts become each digit value's first output index.
                    for digit in 0..<3 {
                        var total = 0
                        for d in (digit * radix)..<((digit + 1) * radix) {
                            let count = c[d]
                            c[d] = total
                            total += count
                        }
                    }
                }
            }
        }
        counts.withUnsafeMutableBufferPointer { c in
            keys.withUnsafeMutableBufferPointer { a in
                spare.withUnsafeMutableBufferPointer { b in
                    result.withUnsafeMutableBufferPointer { out in
                        for k in a {
                            let d = Int(k & 0x7FF)
                            b[c[d]] = k
                            c[d] += 1
                        }
                        for k in b {
                            let d = radix + Int((k >> 11) & 0x7FF)
                            a[c[d]] = k
                            c[d] += 1
                        }
                        for k in a {
                            let d = 2 * radix + Int(k >> 22)
                            out[c[d]] = Float(bitPattern: k)
                            c[d] += 1
                        }
                    }
                }
            }
        }
        return result
    }

    /// |a| at percentile `p` (0–100) of all voxels.
    public func absQuantile(_ p: Double) -> Float {
        guard !sortedAbs.isEmpty else { return 0 }
        let idx = Int((min(max(p, 0), 100) / 100 * Double(sortedAbs.count - 1)).rounded())
        return sortedAbs[idx]
    }

    /// Percentage of voxels whose |a| is at most |value|.
    public func percentile(of value: Float) -> Double {
        guard !sortedAbs.isEmpty else { return 0 }
        let v = Swift.abs(value)
        var lo = 0, hi = sortedAbs.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if sortedAbs[mid] <= v { lo = mid + 1 } else { hi = mid }
        }
        return 100 * Double(lo) / Double(sortedAbs.count)
    }
}

/// A CT intensity window (width/level in HU), optionally one of the named presets.
public struct WindowSetting: Equatable, Sendable {
    public var width: Double
    public var level: Double
    public var presetName: String?

    public struct Preset: Sendable {
        public let name: String
        public let width: Double
        public let level: Double
    }

    public static let presets: [Preset] = [
        Preset(name: "soft tissue", width: 400, level: 40),
        Preset(name: "lung", width: 1500, level: -600),
        Preset(name: "bone", width: 1800, level: 400),
        Preset(name: "brain", width: 80, level: 40),
        Preset(name: "mediastinum", width: 350, level: 50),
    ]

    public init(preset: Preset) {
        width = preset.width
        level = preset.level
        presetName = preset.name
    }

    public init(width: Double, level: Double) {
        self.width = width
        self.level = level
        presetName = nil
    }

    /// Grey value in 0...1 for an intensity.
    @inline(__always)
    public func grey(_ hu: Float) -> Double {
        let lo = level - width / 2
        return min(max((Double(hu) - lo) / max(width, 1), 0), 1)
    }

    public var label: String {
        "W/L \(Int(width.rounded()))/\(Int(level.rounded()))" + (presetName.map { " \($0)" } ?? "")
    }
}
