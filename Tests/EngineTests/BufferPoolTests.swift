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

    /// A three-stage PlainConvUNet with random weights, an input and an output gradient.
    private func smallUNet() throws -> (network: any SegmentationNetwork, input: Tensor, seed: Tensor) {
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
        return (network, rng.tensor([1, 16, 20, 24]), rng.tensor([3, 16, 20, 24]))
    }

    func testRecyclingKeepsResultsAndPeakMemory() throws {
        let (network, input, seed) = try smallUNet()
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

    /// Passes in a row (`NetworkMemory.acrossPasses`, as a method's steps and a scan's windows
    /// run) reuse the maps the pass before freed, with the same bits and never more bytes held
    /// than the most in use at once; nothing is kept afterwards.
    func testConsecutivePassesReuseTheMapsOfThePassBefore() throws {
        let (network, input, seed) = try smallUNet()
        NetworkMemory.recycle(minimumBytes: Int.max)
        let (plainLogits, plainGradient) = network.forward(input) { _ in seed }
        NetworkMemory.recycle(minimumBytes: 0)
        _ = network.forward(input) { _ in seed }
        _ = NetworkMemory.takePeaks()
        _ = network.forward(input) { _ in seed }
        let alone = NetworkMemory.takePeaks().reused

        let passes = 3
        let results = NetworkMemory.acrossPasses { (0..<passes).map { _ in network.forward(input) { _ in seed } } }
        let peaks = NetworkMemory.takePeaks()
        for (logits, gradient) in results {
            XCTAssertEqual(logits.data, plainLogits.data, "logits bits")
            XCTAssertEqual(gradient!.data, plainGradient!.data, "input gradient bits")
        }
        XCTAssertGreaterThan(peaks.reused, passes * alone + 10, "later passes start on the maps of the one before")
        XCTAssertLessThanOrEqual(peaks.held, peaks.live, "held bytes never above the live peak")
        XCTAssertEqual(NetworkMemory.takePeaks().held, 0, "nothing kept after the last pass")
    }
}
