import Foundation
import Engine

/// Where `z`/`Z` jump: the strongest voxels of the shown attribution, at most one per blob.
public enum AttributionPeaks {
    /// Candidates considered before spacing them out: enough for many blobs, few enough to sort at
    /// once on a key press.
    static let candidateLimit = 50_000

    /// Up to `count` voxels (ijk) in descending order of `value`, each more than `separation`
    /// voxels (Chebyshev distance) from every voxel before it, so the list visits distinct blobs
    /// rather than the neighbours of the maximum. Voxels whose value is not above 0 are never
    /// peaks; ties go to the lower NIfTI index.
    public static func top(_ map: Volume, count: Int, separation: Int, value: (Float) -> Double) -> [[Int]] {
        guard count > 0 else { return [] }
        var values = [Float](repeating: 0, count: map.voxels.count)
        for (n, a) in map.voxels.enumerated() where a.isFinite {
            let v = value(a)
            if v > 0 { values[n] = Float(v) }
        }
        // The value at the candidate limit's rank bounds the candidates from below.
        let sorted = AttributionDisplay.sortedMagnitudes(values)
        guard let best = sorted.last, best > 0 else { return [] }
        let floor = sorted[max(0, sorted.count - candidateLimit)]
        var candidates = values.indices.filter { values[$0] > 0 && values[$0] >= floor }
        candidates.sort { values[$0] != values[$1] ? values[$0] > values[$1] : $0 < $1 }
        let d = map.grid.dims
        var peaks: [[Int]] = []
        for n in candidates {
            let p = [n % d[0], (n / d[0]) % d[1], n / (d[0] * d[1])]
            if peaks.allSatisfy({ q in zip(p, q).contains { abs($0 - $1) > separation } }) {
                peaks.append(p)
                if peaks.count == count { break }
            }
        }
        return peaks
    }
}

/// Why a typed position was refused (the status-line message).
public struct PositionError: Error, Equatable, Sendable {
    public let message: String
}

/// A typed position for the go-to prompt: voxel indices, or RAS millimetres.
public enum PositionInput {
    /// Parses "i j k" (whole numbers) or "x y z mm" / "ras x y z" (world RAS millimetres), with
    /// spaces or commas between, into a voxel of `grid`.
    public static func voxel(_ text: String, grid: Grid) throws(PositionError) -> [Int] {
        var t = text.lowercased().trimmingCharacters(in: .whitespaces)
        var world = false
        if t.hasSuffix("mm") { t.removeLast(2); world = true }
        if t.hasPrefix("ras") { t.removeFirst(3); world = true }
        let parts = t.split { $0 == " " || $0 == "," }.map(String.init)
        let usage = PositionError(message: "Not a position: '\(text)' (type i j k, or x y z mm for RAS)")
        guard parts.count == 3 else { throw usage }
        let dims = grid.dims
        let ijk: [Int]
        if world {
            let mm = parts.compactMap(Double.init)
            guard mm.count == 3, mm.allSatisfy(\.isFinite),
                  let v = grid.voxel(atWorld: SIMD3(mm[0], mm[1], mm[2])) else { throw usage }
            let rounded = [v.x, v.y, v.z].map { $0.rounded() }
            guard rounded.allSatisfy({ abs($0) < 1e9 }) else { throw usage }
            ijk = rounded.map { Int($0) }
        } else {
            let ints = parts.compactMap { Int($0) }
            guard ints.count == 3 else { throw usage }
            ijk = ints
        }
        guard zip(ijk, dims).allSatisfy({ $0 >= 0 && $0 < $1 }) else {
            throw PositionError(message: "Outside the scan: voxel \(ijk.map(String.init).joined(separator: " ")) "
                                + "(dims \(dims.map(String.init).joined(separator: "×")))")
        }
        return ijk
    }
}
