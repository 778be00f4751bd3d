/// Long sums over Float planes: 8 Float lanes within blocks of 1024 values, blocks added in
/// Double. This keeps the accuracy of Double accumulation (planes hold millions of voxels) at
/// close to memory speed, which a plain serial Double loop does not reach.
enum Reductions {
    private static let block = 1024

    /// Σ a[i]·b[i] (pass `b == a` for a sum of squares).
    static func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, count: Int) -> Double {
        var total = 0.0
        var start = 0
        while start < count {
            let end = min(start + block, count)
            var lanes = SIMD8<Float>()
            var i = start
            while i + 8 <= end {
                let x = UnsafeRawPointer(a + i).loadUnaligned(as: SIMD8<Float>.self)
                let y = UnsafeRawPointer(b + i).loadUnaligned(as: SIMD8<Float>.self)
                lanes += x * y
                i += 8
            }
            var partial = Double(lanes.sum())
            while i < end { partial += Double(a[i] * b[i]); i += 1 }
            total += partial
            start = end
        }
        return total
    }

    /// Σ a[i].
    static func sum(_ a: UnsafePointer<Float>, count: Int) -> Double {
        accumulate(a, count: count) { $0 }
    }

    /// Mean of a[0..<count], accurate even when the values sit far from zero relative to their
    /// spread (instance-norm inputs often do): a first pass finds a rough mean, a second adds the
    /// deviations from it, which are small and so lose little to Float lanes.
    static func mean(_ a: UnsafePointer<Float>, count: Int) -> SplitMean {
        let rough = Float(sum(a, count: count) / Double(count))
        let shift = SplitMean(Double(rough))
        return SplitMean(Double(rough) + accumulate(a, count: count) { d in shift.deviation(d) } / Double(count))
    }

    /// Σ (a[i] − mean)².
    static func squaredDeviation(_ a: UnsafePointer<Float>, mean: SplitMean, count: Int) -> Double {
        accumulate(a, count: count) { x in let d = mean.deviation(x); return d * d }
    }

    /// Σ term(a[i]), terms added in Float lanes within blocks and blocks added in Double.
    @inline(__always)
    private static func accumulate(_ a: UnsafePointer<Float>, count: Int,
                                   _ term: (SIMD8<Float>) -> SIMD8<Float>) -> Double {
        var total = 0.0
        var start = 0
        while start < count {
            let end = min(start + block, count)
            var lanes = SIMD8<Float>()
            var i = start
            while i + 8 <= end {
                lanes += term(UnsafeRawPointer(a + i).loadUnaligned(as: SIMD8<Float>.self))
                i += 8
            }
            var partial = Double(lanes.sum())
            while i < end { partial += Double(term(SIMD8(repeating: a[i]))[0]); i += 1 }
            total += partial
            start = end
        }
        return total
    }
}

/// A Double mean carried as two Floats, hi + lo, so that x − mean can be formed in Float
/// without rounding the mean first: x − hi is exact when x is near hi (Sterbenz), and
/// subtracting lo then rounds only relative to the small deviation. Rounding the mean to one
/// Float would shift every deviation by up to half an ulp of the mean, which the division by a
/// small standard deviation turns into a large relative error.
struct SplitMean: Sendable {
    let hi: Float
    let lo: Float

    init(_ value: Double) {
        hi = Float(value)
        lo = Float(value - Double(hi))
    }

    @inline(__always)
    func deviation(_ x: Float) -> Float { (x - hi) - lo }

    @inline(__always)
    func deviation(_ x: SIMD8<Float>) -> SIMD8<Float> { (x - SIMD8(repeating: hi)) - SIMD8(repeating: lo) }
}
