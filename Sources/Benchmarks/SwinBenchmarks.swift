import Engine
import Foundation

/// Times the paper's SwinUNETR (feature 48, use_v2, 17 classes, instance norm) on one 96³
/// window: forward, and forward + input gradient of a segment target (sum of class-c logits over
/// the voxels predicted as c), median of N runs after one warm-up, with peak RSS after each.
/// Weights are seeded uniform(±1/√fan_in), the input seeded uniform [0, 1); the PyTorch twin is
/// `scripts/benchmark_swin_pytorch.py`, which builds the same configuration.
func runSwinBenchmarks() {
    let runs = CommandLine.arguments.count > 2 ? max(1, Int(CommandLine.arguments[2]) ?? 1) : 1
    do {
        let architecture = try SwinUNETRArchitecture(arguments: [
            "in_channels": .number(1), "out_channels": .number(17), "feature_size": .number(48), "use_v2": .bool(true),
        ])
        var generator = BenchmarkRNG(state: 7)
        var parameters: [String: [Float]] = [:]
        for (key, shape) in architecture.parameterShapes {
            let fanIn = shape.count > 1 ? shape[1...].reduce(1, *) : 1
            let bound = shape.count > 1 ? Float(1 / Double(fanIn).squareRoot()) : 0.1
            let offset: Float = shape.count == 1 && key.contains("norm") && key.hasSuffix(".weight") ? 1 : 0
            parameters[key] = (0..<shape.reduce(1, *)).map { _ in offset + generator.uniform(-bound, bound) }
        }
        let network = architecture.build(parameters: parameters)
        parameters.removeAll()
        let size = [96, 96, 96]
        let input = Tensor(shape: [1] + size, data: (0..<size.reduce(1, *)).map { _ in generator.uniform(0, 1) })
        let loadedRSS = peakRSSMegabytes()
        var classIndex = 1
        let forward = networkMedianSeconds(runs) {
            let logits = network.forward(input)
            classIndex = largestClass(logits)
        }
        let forwardRSS = peakRSSMegabytes()
        let gradient = networkMedianSeconds(runs) {
            _ = network.forward(input) { logits in
                var g = Tensor(zeros: logits.shape)
                let (classes, plane) = (logits.shape[0], logits.count / logits.shape[0])
                for v in 0..<plane {
                    var best = 0
                    for c in 1..<classes where logits.data[c * plane + v] > logits.data[best * plane + v] { best = c }
                    if best == classIndex { g.data[classIndex * plane + v] = 1 }
                }
                return g
            }
        }
        let gradientRSS = peakRSSMegabytes()
        let peak = sgemmPeakGFLOPS()
        print("SwinUNETR benchmark: feature 48, use_v2, 17 classes, one 96³ window, median of \(runs) run(s) after 1 warm-up, "
              + "\(ProcessInfo.processInfo.activeProcessorCount) threads; weights loaded: peak RSS \(Int(loadedRSS)) MB")
        print(String(format: "  sgemm reference (2 workers, 1024³ each)   %8.1f GFLOP/s", peak))
        print(String(format: "  forward                    %9.0f ms   %5.1f GFLOP/s (688.9 GFLOP) = %4.0f%% of sgemm   peak RSS %6.0f MB",
                     forward * 1e3, 688.9 / forward, 100 * 688.9 / forward / peak, forwardRSS))
        print(String(format: "  forward + input gradient   %9.0f ms   %5.1f GFLOP/s (1400.7 GFLOP) = %4.0f%% of sgemm  peak RSS %6.0f MB",
                     gradient * 1e3, 1400.7 / gradient, 100 * 1400.7 / gradient / peak, gradientRSS))
        print("  target: class \(classIndex); compare: python3 scripts/benchmark_swin_pytorch.py --runs \(runs)")
    } catch {
        print("SwinUNETR benchmark failed: \(error)")
    }
}

/// The most often predicted class other than 0, so the backward pass has a target.
private func largestClass(_ logits: Tensor) -> Int {
    let (classes, plane) = (logits.shape[0], logits.count / logits.shape[0])
    var counts = [Int](repeating: 0, count: classes)
    for v in 0..<plane {
        var best = 0
        for c in 1..<classes where logits.data[c * plane + v] > logits.data[best * plane + v] { best = c }
        counts[best] += 1
    }
    return (1..<classes).max { counts[$0] < counts[$1] } ?? 0
}
