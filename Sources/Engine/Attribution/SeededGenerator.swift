import Foundation

/// A deterministic random generator: xoshiro256** seeded through SplitMix64, with Box–Muller
/// normals. Swift's own `random(in:using:)` and `shuffle(using:)` are not promised to keep their
/// algorithms across releases, so samplers that must reproduce (noise, subsets, coalitions) draw
/// only through the methods here.
public struct SeededGenerator: RandomNumberGenerator, Sendable {
    private var s: (UInt64, UInt64, UInt64, UInt64)
    private var spareNormal: Double?

    public init(seed: UInt64) {
        var x = seed
        func splitMix() -> UInt64 {
            x &+= 0x9E37_79B9_7F4A_7C15
            var z = x
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        s = (splitMix(), splitMix(), splitMix(), splitMix())
    }

    public mutating func next() -> UInt64 {
        let result = rotl(s.1 &* 5, 7) &* 9
        let t = s.1 << 17
        s.2 ^= s.0
        s.3 ^= s.1
        s.1 ^= s.2
        s.0 ^= s.3
        s.2 ^= t
        s.3 = rotl(s.3, 45)
        return result
    }

    @inline(__always)
    private func rotl(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 - k)) }

    /// Uniform in [0, 1) from the top 53 bits.
    public mutating func uniform() -> Double {
        Double(next() >> 11) * (1.0 / 9_007_199_254_740_992.0)
    }

    /// Uniform integer in 0..<n by rejection (no modulo bias).
    public mutating func index(below n: Int) -> Int {
        precondition(n > 0, "empty range")
        let bound = UInt64(n)
        let limit = UInt64.max - UInt64.max % bound
        while true {
            let r = next()
            if r < limit { return Int(r % bound) }
        }
    }

    /// Standard normal via Box–Muller; the second value of each pair is kept for the next call.
    public mutating func normal() -> Double {
        if let z = spareNormal {
            spareNormal = nil
            return z
        }
        var u1 = uniform()
        while u1 <= 0 { u1 = uniform() }
        let u2 = uniform()
        let r = (-2 * Foundation.log(u1)).squareRoot()
        spareNormal = r * Foundation.sin(2 * Double.pi * u2)
        return r * Foundation.cos(2 * Double.pi * u2)
    }

    /// `k` distinct indices from 0..<n, in random order (partial Fisher–Yates).
    public mutating func sample(_ k: Int, from n: Int) -> [Int] {
        precondition(k >= 0 && k <= n, "cannot draw \(k) of \(n)")
        if k * 4 < n {
            // Sparse draw: avoid materialising 0..<n for small subsets of big volumes.
            var swapped: [Int: Int] = [:]
            var out: [Int] = []
            out.reserveCapacity(k)
            for i in 0..<k {
                let j = i + index(below: n - i)
                let vj = swapped[j] ?? j
                let vi = swapped[i] ?? i
                swapped[j] = vi
                out.append(vj)
            }
            return out
        }
        var all = Array(0..<n)
        for i in 0..<k {
            let j = i + index(below: n - i)
            all.swapAt(i, j)
        }
        return Array(all[0..<k])
    }
}
