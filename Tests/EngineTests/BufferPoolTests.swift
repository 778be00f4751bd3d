import Engine
import XCTest

/// Feature-map recycling within a pass: a PlainConvUNet's logits and input gradient are bit for
/// bit those of the same pass without recycling (a recycled buffer holds stale values, so any op
/// that read before writing would show), buffers are handed out again, and the bytes held (in
/// use plus kept for reuse) never exceed the most the pass had in use at once.
final class BufferPoolTests: XCTestCase {
    override func tearDown() {
        NetworkMemory.recycle(minimumBytes: nil)
        super.tearDown()
    }

    func testRecyclingKeepsResultsAndPeakMemory() throws {
        let stages = 3
        let architecture = try PlainConvUNetArchitecture(arguments: [
            "input_channels": .number(1), "num_classes": .number(3), "n_stages": .number(Double(stages)),
            "features_per_stage": .array([4, 8, 16].map { JSONValue.number($0) }),
            "conv_op": .string("torch.nn.modules.conv.Conv3d"),
            "kernel_sizes": .array((0..<stages).map { _ in .array([3, 3, 3].map { JSONValue.number($0) }) }),
            "strides": .array((0..<stages).map { s in .array([Double](repeating: s == 0 ? 1 : 2, count: 3).map { JSONValue.number($0) }) }),
            "n_conv_per_stage": .number(2), "n_conv_per_stage_decoder": .number(2), "conv_bias": .bool(true),
            "norm_op": .string("torch.nn.modules.instancenorm.InstanceNorm3d"),
            "norm_op_kwargs": .object(["eps": .number(1e-5), "affine": .bool(true)]),
            "nonlin": .string("torch.nn.LeakyReLU"), "nonlin_kwargs": .object(["inplace": .bool(true)]),
        ], monaiVersion: nil)
        var rng = KernelRNG(seed: 5)
        var parameters: [String: [Float]] = [:]
        for (key, shape) in architecture.parameterShapes {
            parameters[key] = rng.floats(shape.reduce(1, *), -0.3, 0.3)
        }
        let network = architecture.build(parameters: parameters)
        let input = rng.tensor([1, 16, 20, 24])
        let seed = rng.tensor([3, 16, 20, 24])
        func pass() -> (Tensor, Tensor, NetworkMemory.Peaks) {
            _ = NetworkMemory.takePeaks()
            let (logits, gradient) = network.forward(input) { _ in seed }
            return (logits, gradient!, NetworkMemory.takePeaks())
        }

        NetworkMemory.recycle(minimumBytes: Int.max)
        let (plainLogits, plainGradient, _) = pass()
        NetworkMemory.recycle(minimumBytes: 0)
        for run in 0..<2 {
            let (logits, gradient, peaks) = pass()
            XCTAssertEqual(logits.data, plainLogits.data, "logits bits, recycled run \(run)")
            XCTAssertEqual(gradient.data, plainGradient.data, "input gradient bits, recycled run \(run)")
            XCTAssertGreaterThan(peaks.reused, 10, "buffers handed out again")
            XCTAssertLessThanOrEqual(peaks.held, peaks.live, "held bytes never above the live peak")
            XCTAssertGreaterThan(peaks.live, 16 * 20 * 24 * 4 * 4, "the full-resolution maps went through the pool")
        }
        // Inference recycles too and gives the same logits.
        XCTAssertEqual(network.forward(input).data, plainLogits.data, "inference logits bits")
    }
}
