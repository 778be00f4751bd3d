import Foundation

/// Post-processing φ applied to a signed attribution before aggregation (METHOD.md §1.4).
public enum AttributionProcessing: String, CaseIterable, Sendable {
    /// φ(a) = |a|, the official default and what the released CSV uses.
    case abs
    /// φ(a) = max(a, 0): evidence for the target.
    case pos
    /// φ(a) = max(−a, 0): evidence against the target.
    case neg

    @inline(__always)
    public func apply(_ a: Float) -> Double {
        switch self {
        case .abs: return Double(Swift.abs(a))
        case .pos: return a > 0 ? Double(a) : 0
        case .neg: return a < 0 ? Double(-a) : 0
        }
    }
}

/// Agg²Exp scores of one RoI for one explained class.
///
/// `mass` = Σ_{v∈R} φ(a) / Σ_{all v} φ(a) (denominator over the whole volume, background included);
/// nil when the processed attribution is zero everywhere (0/0, e.g. an empty target mask).
/// `mean` = Σ_{v∈R} φ(a) / |R|; nil when the RoI has no voxels. This matches the official numpy
/// code, where those cases produce NaN; an empty RoI of a non-zero map has mass 0.
public struct SegmentScore: Sendable, Equatable {
    public var label: Int32
    public var name: String
    public var voxels: Int
    public var mass: Double?
    public var mean: Double?

    public init(label: Int32, name: String, voxels: Int, mass: Double?, mean: Double?) {
        self.label = label
        self.name = name
        self.voxels = voxels
        self.mass = mass
        self.mean = mean
    }
}

/// A named union of labels aggregated as one RoI (official `JOINED_CLASSES`, e.g. lung = lobes).
public struct RoIGroup: Sendable, Equatable {
    public var name: String
    public var labels: [Int32]

    public init(name: String, labels: [Int32]) {
        self.name = name
        self.labels = labels
    }

    /// The official joined RoIs for the 17-class thorax model: lung = 2…6, autochthon = 13, 14.
    public static let officialJoined: [RoIGroup] = [
        RoIGroup(name: "lung", labels: [2, 3, 4, 5, 6]),
        RoIGroup(name: "autochthon", labels: [13, 14]),
    ]

    /// Parses `{"name": [label or label name, …], …}`; groups are returned sorted by name so the
    /// output order does not depend on JSON key order. Names are resolved with `resolve`.
    public static func parse(json data: Data, source: String,
                             resolve: (String) -> Int32?) throws -> [RoIGroup] {
        let object: Any
        do {
            object = try JSONSerialization.jsonObject(with: data)
        } catch {
            throw AggregationError.malformedGroups(source: source, reason: "not valid JSON")
        }
        guard let dict = object as? [String: Any] else {
            throw AggregationError.malformedGroups(source: source,
                                                   reason: "expected an object {name: [labels]}")
        }
        var groups: [RoIGroup] = []
        for (name, value) in dict.sorted(by: { $0.key < $1.key }) {
            guard let items = value as? [Any], !items.isEmpty else {
                throw AggregationError.malformedGroups(
                    source: source, reason: "group \"\(name)\" must be a non-empty list of labels")
            }
            var labels: [Int32] = []
            for item in items {
                if let text = item as? String {
                    guard let label = resolve(text) else {
                        throw AggregationError.malformedGroups(
                            source: source, reason: "group \"\(name)\": unknown label name \"\(text)\"")
                    }
                    labels.append(label)
                } else if let number = item as? NSNumber, let label = Int32(exactly: number.doubleValue) {
                    labels.append(label)
                } else {
                    throw AggregationError.malformedGroups(
                        source: source, reason: "group \"\(name)\": \(item) is not a label")
                }
            }
            groups.append(RoIGroup(name: name, labels: labels))
        }
        return groups
    }
}

public enum AggregationError: Error, CustomStringConvertible, Equatable {
    case sizeMismatch(attribution: Int, segments: Int)
    case malformedGroups(source: String, reason: String)

    public var description: String {
        switch self {
        case let .sizeMismatch(a, s):
            return "attribution has \(a) voxels but the segmentation has \(s)"
        case let .malformedGroups(source, reason):
            return "\(source): \(reason)"
        }
    }
}

/// Per-label sums of a processed attribution, gathered in one pass over the voxels.
///
/// Every RoI score (single labels and unions) derives from these sums, so aggregating all
/// segments costs one sweep of the volume, never one sweep per segment.
public struct SegmentTotals: Sendable, Equatable {
    /// Σ φ(a) over every voxel (the mass denominator, background included).
    public let total: Double
    public let voxelCount: Int
    public let sums: [Int32: Double]
    public let counts: [Int32: Int]

    public init(attribution: [Float], segments: [Int32], processing: AttributionProcessing) throws {
        guard attribution.count == segments.count else {
            throw AggregationError.sizeMismatch(attribution: attribution.count, segments: segments.count)
        }
        var lo = Int32.max, hi = Int32.min
        for s in segments {
            lo = Swift.min(lo, s)
            hi = Swift.max(hi, s)
        }
        var sums: [Int32: Double] = [:]
        var counts: [Int32: Int] = [:]
        var total = 0.0
        if segments.isEmpty {
            // Nothing to accumulate.
        } else if Int(hi) - Int(lo) < 1 << 16 {
            // Dense accumulators: label maps use small contiguous ids.
            let width = Int(hi) - Int(lo) + 1
            var s = [Double](repeating: 0, count: width)
            var c = [Int](repeating: 0, count: width)
            attribution.withUnsafeBufferPointer { a in
                segments.withUnsafeBufferPointer { seg in
                    for v in 0..<a.count {
                        let p = processing.apply(a[v])
                        let slot = Int(seg[v]) - Int(lo)
                        s[slot] += p
                        c[slot] += 1
                        total += p
                    }
                }
            }
            for slot in 0..<width where c[slot] > 0 {
                let label = Int32(Int(lo) + slot)
                sums[label] = s[slot]
                counts[label] = c[slot]
            }
        } else {
            for v in 0..<attribution.count {
                let p = processing.apply(attribution[v])
                sums[segments[v], default: 0] += p
                counts[segments[v], default: 0] += 1
                total += p
            }
        }
        self.total = total
        self.voxelCount = attribution.count
        self.sums = sums
        self.counts = counts
    }

    /// Labels present in the segmentation, ascending.
    public var labels: [Int32] { counts.keys.sorted() }

    /// Scores of the union of `labels` (a single label, or a joined RoI).
    public func score(labels group: [Int32], label: Int32, name: String) -> SegmentScore {
        var sum = 0.0, n = 0
        for l in Set(group) {
            sum += sums[l] ?? 0
            n += counts[l] ?? 0
        }
        return SegmentScore(label: label, name: name, voxels: n,
                            mass: total > 0 ? sum / total : nil,
                            mean: n > 0 ? sum / Double(n) : nil)
    }
}

/// Agg²Exp aggregation (METHOD.md §1.5).
public enum Aggregation {
    /// Scores for each label in `labels` (default: the labels present), in that order.
    public static func scores(attribution: [Float], segments: [Int32], processing: AttributionProcessing,
                              labels: [Int32]? = nil, names: (Int32) -> String) throws -> [SegmentScore] {
        let totals = try SegmentTotals(attribution: attribution, segments: segments, processing: processing)
        return (labels ?? totals.labels).map { totals.score(labels: [$0], label: $0, name: names($0)) }
    }

    /// Scores for joined RoIs; each group's `label` is its first label.
    public static func scores(attribution: [Float], segments: [Int32], processing: AttributionProcessing,
                              groups: [RoIGroup]) throws -> [SegmentScore] {
        let totals = try SegmentTotals(attribution: attribution, segments: segments, processing: processing)
        return groups.map { totals.score(labels: $0.labels, label: $0.labels.first ?? -1, name: $0.name) }
    }

    /// Sorts scores by mass descending (undefined last), ties by label, as rankings are shown.
    public static func ranked(_ scores: [SegmentScore]) -> [SegmentScore] {
        scores.sorted { a, b in
            switch (a.mass, b.mass) {
            case let (x?, y?): return x != y ? x > y : a.label < b.label
            case (.some, nil): return true
            case (nil, .some): return false
            case (nil, nil): return a.label < b.label
            }
        }
    }

    /// Mean and population variance (numpy `np.mean`, `np.var`) of the raw signed map,
    /// stored per class as `{c}_explanation_mean|var`.
    public static func signedStatistics(_ attribution: [Float]) -> (mean: Double, variance: Double)? {
        guard !attribution.isEmpty else { return nil }
        var sum = 0.0
        for a in attribution { sum += Double(a) }
        let mean = sum / Double(attribution.count)
        var ss = 0.0
        for a in attribution {
            let d = Double(a) - mean
            ss += d * d
        }
        return (mean, ss / Double(attribution.count))
    }
}
