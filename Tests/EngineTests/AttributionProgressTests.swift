import XCTest
import Engine

/// A two-window stand-in for a sliding-window network: every pass reports progress after each of
/// its two windows, counts itself, and can cancel the token after a given number of passes (as a
/// user pressing Esc during that pass). z₀ = 0, z₁ = x; ∂T₁/∂x is the mask indicator.
private final class CountingModel: ExplainableModel, @unchecked Sendable {
    let classCount = 2
    private let lock = NSLock()
    private var passes = (forward: 0, gradient: 0)
    private let cancelAfter: Int?
    private let token: CancellationToken?

    init(cancelAfter: Int? = nil, token: CancellationToken? = nil) {
        self.cancelAfter = cancelAfter
        self.token = token
    }

    var forwardPasses: Int { lock.withLock { passes.forward } }
    var gradientPasses: Int { lock.withLock { passes.gradient } }

    private func windows(_ progress: ProgressHandler?, cancel: CancellationToken?) throws {
        for w in 1...2 {
            try cancel?.check()
            progress?(Double(w) / 2)
        }
        let total = lock.withLock { passes.forward + passes.gradient }
        if let cancelAfter, total >= cancelAfter { token?.cancel() }
    }

    func logits(_ input: Tensor, progress: ProgressHandler?, cancel: CancellationToken?) throws -> Tensor {
        lock.withLock { passes.forward += 1 }
        try windows(progress, cancel: cancel)
        return Tensor(shape: [2] + input.shape.dropFirst(), data: [Float](repeating: 0, count: input.count) + input.data)
    }

    func targetGradient(_ input: Tensor, target: SegmentTarget, progress: ProgressHandler?,
                        cancel: CancellationToken?) throws -> Tensor {
        lock.withLock { passes.gradient += 1 }
        try windows(progress, cancel: cancel)
        let mask = target.mask ?? [Int32](repeating: 1, count: input.count)
        return Tensor(shape: input.shape, data: mask.map { $0 == Int32(target.classIndex) ? 1 : 0 })
    }
}

private final class Fractions: @unchecked Sendable {
    private let lock = NSLock()
    private var values: [Double] = []
    func add(_ f: Double) { lock.withLock { values.append(f) } }
    var all: [Double] { lock.withLock { values } }
}

/// Progress advances per window inside every step of IG, SmoothGrad and KernelSHAP (not only
/// when a step ends), and a cancelled token stops each method before its next pass.
final class AttributionProgressTests: XCTestCase {
    private let input = Tensor(shape: [1, 4, 3, 2], data: (0..<24).map { Float($0) / 23 })
    private var mask: [Int32] { input.data.map { $0 > 0.5 ? 1 : 0 } }

    private func methods() throws -> [(String, any AttributionMethod, steps: Int)] {
        var o = AttributionOptions()
        o.steps = 3
        o.samples = 4
        return [("integrated-gradients", try AttributionMethods.make(.integratedGradients, options: o), 4),
                ("smoothgrad", try AttributionMethods.make(.smoothgrad, options: o), 4),
                ("kernelshap", try AttributionMethods.make(.kernelshap, options: o), 4)]
    }

    func testProgressAdvancesPerWindowWithinEachStep() throws {
        for (name, method, steps) in try methods() {
            let fractions = Fractions()
            _ = try method.attribute(input, model: CountingModel(), target: SegmentTarget(classIndex: 1, mask: mask),
                                     progress: { fractions.add($0) }, cancel: nil)
            let values = fractions.all
            // Half-way through step 1 of `steps` parts: the first window of the first pass.
            XCTAssertEqual(values.first ?? -1, 0.5 / Double(steps), accuracy: 1e-12, name)
            XCTAssertEqual(values.last, 1, name)
            XCTAssertEqual(values, values.sorted(), "\(name): progress never goes back")
            XCTAssertGreaterThanOrEqual(values.count, 2 * (steps - 1), "\(name): two reports per pass")
        }
    }

    func testCancellationStopsBeforeTheNextPass() throws {
        for (name, method, _) in try methods() {
            let token = CancellationToken()
            let model = CountingModel(cancelAfter: 2, token: token)
            XCTAssertThrowsError(try method.attribute(input, model: model,
                                                      target: SegmentTarget(classIndex: 1, mask: mask),
                                                      progress: nil, cancel: token), name) { error in
                XCTAssertTrue(error is CancellationError, "\(name): \(error)")
            }
            XCTAssertEqual(model.forwardPasses + model.gradientPasses, 2, "\(name): no pass after the cancelling one")
        }
    }
}
