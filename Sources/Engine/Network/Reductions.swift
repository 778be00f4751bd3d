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
        var total = 0.0
        var start = 0
        while start < count {
            let end = min(start + block, count)
            var lanes = SIMD8<Float>()
            var i = start
            while i + 8 <= end {
                lanes += UnsafeRawPointer(a + i).loadUnaligned(as: SIMD8<Float>.self)
                i += 8
            }
            var partial = Double(lanes.sum())
            while i < end { partial += Double(a[i]); i += 1 }
            total += partial
            start = end
        }
        return total
    }

    /// Σ (a[i] − mean)², with the shift applied in Float before squaring.
    static func squaredDeviation(_ a: UnsafePointer<Float>, mean: Float, count: Int) -> Double {
        var total = 0.0
        var start = 0
        let m = SIMD8<Float>(repeating: mean)
        while start < count {
            let end = min(start + block, count)
            var lanes = SIMD8<Float>()
            var i = start
            while i + 8 <= end {
                let d = UnsafeRawPointer(a + i).loadUnaligned(as: SIMD8<Float>.self) - m
                lanes += d * d
                i += 8
            }
            var partial = Double(lanes.sum())
            while i < end { let d = a[i] - mean; partial += Double(d * d); i += 1 }
            total += partial
            start = end
        }
        return total
    }
}
