import Engine
import Foundation

/// Times a TotalSegmentator-sized nnU-Net PlainConvUNet (6 stages, features 32→320, kernels 3,
/// strides [1, 2, 2, 2, 2, 2], 25 classes, about 958 GFLOP per tile) on one seeded 128³ tile:
/// forward, and forward + input gradient of nnU-Net's stitched target on a single tile (the
/// Gaussian importance weights times the class-c logits over the voxels predicted as c), median of
/// N runs after one warm-up, with peak RSS after each. Weights are seeded uniform(±1/√fan_in),
/// norm weights 1 + uniform(±0.1); the PyTorch twin is `scripts/benchmark_nnunet_pytorch.py`.
func runNNUNetBenchmarks() {
    let runs = CommandLine.arguments.count > 2 ? max(1, Int(CommandLine.arguments[2]) ?? 1) : 1
    do {
        let stages = 6
        let architecture = try PlainConvUNetArchitecture(arguments: [
            "input_channels": .number(1), "num_classes": .number(25), "n_stages": .number(Double(stages)),
            "features_per_stage": .array(([32, 64, 128, 256, 320, 320] as [Double]).map { JSONValue.number($0) }),
            "conv_op": .string("torch.nn.modules.conv.Conv3d"),
            "kernel_sizes": .array((0..<stages).map { _ in JSONValue.array(([3, 3, 3] as [Double]).map { JSONValue.number($0) }) }),
            "strides": .array((0..<stages).map { s in JSONValue.array([Double](repeating: s == 0 ? 1 : 2, count: 3).map { JSONValue.number($0) }) }),
            "n_conv_per_stage": .array([Double](repeating: 2, count: stages).map { JSONValue.number($0) }),
            "n_conv_per_stage_decoder": .array([Double](repeating: 2, count: stages - 1).map { JSONValue.number($0) }),
            "conv_bias": .bool(true), "norm_op": .string("torch.nn.modules.instancenorm.InstanceNorm3d"),
            "norm_op_kwargs": .object(["eps": .number(1e-5), "affine": .bool(true)]),
            "dropout_op": .null, "dropout_op_kwargs": .null, "nonlin": .string("torch.nn.LeakyReLU"),
            "nonlin_kwargs": .object(["inplace": .bool(true)]),
        ], monaiVersion: nil)
        var generator = BenchmarkRNG(state: 11)
        var parameters: [String: [Float]] = [:]
        for (key, shape) in architecture.parameterShapes {
            let fanIn = shape.count > 1 ? shape[1...].reduce(1, *) : 1
            let bound = shape.count > 1 ? Float(1 / Double(fanIn).squareRoot()) : 0.1
            let offset: Float = shape.count == 1 && key.contains("norm") && key.hasSuffix(".weight") ? 1 : 0
            parameters[key] = (0..<shape.reduce(1, *)).map { _ in offset + generator.uniform(-bound, bound) }
        }
        let network = architecture.build(parameters: parameters)
        parameters.removeAll()
        let patch = [128, 128, 128]
        let input = Tensor(shape: [1] + patch, data: (0..<patch.reduce(1, *)).map { _ in generator.uniform(-2, 2) })
        let gaussian = NNUNetPipeline.gaussian(patch).map(Float.init)
        let loadedRSS = peakRSSMegabytes()
        var classIndex = 1
        let forward = networkMedianSeconds(runs) {
            let logits = network.forward(input)
            classIndex = TargetFunction.argmax(logits).reduce(into: [Int](repeating: 0, count: 25)) { $0[Int($1)] += 1 }
                .enumerated().dropFirst().max { $0.element < $1.element }!.offset
        }
        let forwardRSS = peakRSSMegabytes()
        let gradient = networkMedianSeconds(runs) {
            _ = network.forward(input) { logits in
                let labels = TargetFunction.argmax(logits)
                var g = Tensor(zeros: logits.shape)
                let plane = labels.count
                for v in 0..<plane where labels[v] == Int32(classIndex) { g.data[classIndex * plane + v] = gaussian[v] }
                return g
            }
        }
        let gradientRSS = peakRSSMegabytes()
        print("nnU-Net benchmark: PlainConvUNet 6 stages 32→320, 25 classes, one 128³ tile, median of \(runs) run(s) "
              + "after 1 warm-up, \(ProcessInfo.processInfo.activeProcessorCount) threads; weights loaded: peak RSS "
              + "\(Int(loadedRSS)) MB")
        print(String(format: "  forward                    %9.0f ms   %5.1f GFLOP/s (958 GFLOP)   peak RSS %6.0f MB",
                     forward * 1e3, 958 / forward, forwardRSS))
        print(String(format: "  forward + input gradient   %9.0f ms                           peak RSS %6.0f MB",
                     gradient * 1e3, gradientRSS))
        print("  target: class \(classIndex); compare: python3 scripts/benchmark_nnunet_pytorch.py --runs \(runs)")
    } catch {
        print("nnU-Net benchmark failed: \(error)")
    }
}
