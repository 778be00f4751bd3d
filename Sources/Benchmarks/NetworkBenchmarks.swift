import COpenBLAS
import Engine
import Foundation

/// Times the network engine: sliding-window forward and forward + input gradient of a segment
/// target (sum of class-c logits over the voxels predicted as c), median of N runs after one
/// warm-up, and peak RSS. Uses SampleData/model on the sample CT when the model exists,
/// otherwise a randomly initialised BasicUNet (16, 16, 32, 64, 128, 16) with 14 classes on a
/// 1×128×112×112 input. Convolution throughput is reported against the sgemm throughput of the
/// same two workers measured in the same run.
func runNetworkBenchmarks() {
    let runs = CommandLine.arguments.count > 2 ? max(1, Int(CommandLine.arguments[2]) ?? 3) : 3
    do {
        let (model, input, source) = try benchmarkSetup()
        // Liver when the model has it, else the most often predicted class: an empty target
        // mask would skip the backward pass.
        let labels = SegmentationModel.labels(try model.logits(input, progress: nil, cancel: nil),
                                              grid: Grid(dims: Array(input.shape[1...]), affine: .identity))
        var counts = [Int](repeating: 0, count: model.classCount)
        for l in labels.labels { counts[Int(l)] += 1 }
        let classIndex = model.classes.firstIndex(of: "liver") ?? counts.indices.max { counts[$0] < counts[$1] }!
        let target = SegmentTarget(classIndex: classIndex)
        let peak = sgemmPeakGFLOPS()
        let forward = try networkMedianSeconds(runs) { _ = try model.logits(input, progress: nil, cancel: nil) }
        let forwardRSS = peakRSSMegabytes()
        var faults = minorPageFaults()
        let gradient = try networkMedianSeconds(runs) {
            _ = try model.targetGradient(input, target: target, progress: nil, cancel: nil)
        }
        let gradientFaults = (minorPageFaults() - faults) / (runs + 1)
        let gradientRSS = peakRSSMegabytes()
        // As the steps of Integrated Gradients or SmoothGrad run: one pass after another, each
        // starting on the feature maps the one before freed.
        faults = minorPageFaults()
        let inRow = try NetworkMemory.acrossPasses {
            try networkMedianSeconds(runs) { _ = try model.targetGradient(input, target: target, progress: nil, cancel: nil) }
        }
        let inRowFaults = (minorPageFaults() - faults) / (runs + 1)
        let inRowRSS = peakRSSMegabytes()
        let plan = model.plan(imageSize: Array(input.shape[1...]))
        let flops = convolutionFLOPs(model: model) * Double(plan.starts.count)
        print("network benchmarks: \(source); input \(input.shape.map(String.init).joined(separator: "×")), "
              + "\(plan.starts.count) window(s) of \(model.roiSize.map(String.init).joined(separator: "×")); "
              + "median of \(runs) runs after 1 warm-up, \(ProcessInfo.processInfo.activeProcessorCount) threads")
        print(String(format: "  sgemm reference (2 workers, 1024³ each)    %8.1f GFLOP/s", peak))
        print(String(format: "  forward                      %9.0f ms   conv %5.1f GFLOP/s = %4.0f%% of sgemm   peak RSS %6.0f MB",
                     forward * 1e3, flops / forward / 1e9, 100 * flops / forward / 1e9 / peak, forwardRSS))
        print(String(format: "  forward + input gradient     %9.0f ms   conv %5.1f GFLOP/s = %4.0f%% of sgemm   peak RSS %6.0f MB   %7d page faults per pass",
                     gradient * 1e3, 2 * flops / gradient / 1e9, 100 * 2 * flops / gradient / 1e9 / peak, gradientRSS,
                     gradientFaults))
        print(String(format: "  same, passes in a row        %9.0f ms   conv %5.1f GFLOP/s = %4.0f%% of sgemm   peak RSS %6.0f MB   %7d page faults per pass",
                     inRow * 1e3, 2 * flops / inRow / 1e9, 100 * 2 * flops / inRow / 1e9 / peak, inRowRSS, inRowFaults))
        print("  target: class \(classIndex) '\(model.classes[classIndex])', \(counts[classIndex]) predicted voxels")
        print("  compare: python3 scripts/benchmark_pytorch.py --runs \(runs)  (same model, input and threads)")
    } catch {
        print("network benchmarks failed: \(error)")
    }
}

private func benchmarkSetup() throws -> (SegmentationModel, Tensor, String) {
    if let dir = SampleData.modelDirectory, let scanPath = SampleData.scanPath,
       FileManager.default.fileExists(atPath: dir + "/" + ModelDirectory.weightsFile) {
        let model = try SegmentationModel.load(directory: dir)
        let input = Tensor(volume: model.preprocess(try NIfTI.readVolume(scanPath)))
        return (model, input, "sample model on the sample CT")
    }
    // No sample model: the reference configuration with seeded random weights.
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("agg2exp-bench-model-\(getpid())").path
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let arguments: [String: JSONValue] = [
        "features": .array([16, 16, 32, 64, 128, 16].map { .number(Double($0)) }), "out_channels": .number(14),
    ]
    let architecture = try BasicUNetArchitecture(arguments: arguments)
    var generator = BenchmarkRNG(state: 42)
    var tensors: [(String, [Int], [Float])] = []
    for (key, shape) in architecture.parameterShapes {
        let fanIn = shape.count > 1 ? shape[1...].reduce(1, *) : 1
        let bound = Float(1 / Double(fanIn).squareRoot())
        tensors.append((key, shape, (0..<shape.reduce(1, *)).map { _ in generator.uniform(-bound, bound) }))
    }
    try writeSafetensors(tensors, to: dir + "/" + ModelDirectory.weightsFile)
    let json = """
        {"format": "agg2exp-model/1", "architecture": "BasicUNet",
         "arguments": {"features": [16, 16, 32, 64, 128, 16], "out_channels": 14},
         "classes": [\((0..<14).map { "\"class \($0)\"" }.joined(separator: ", "))],
         "preprocessing": {"orientation": "RAS", "spacing": [3, 3, 3],
                           "intensity": {"a_min": -1024, "a_max": 1024, "b_min": 0, "b_max": 1, "clip": true}},
         "inference": {"roi_size": [128, 112, 112], "overlap": 0.25}}
        """
    try json.write(toFile: dir + "/" + ModelDirectory.descriptionFile, atomically: true, encoding: .utf8)
    let model = try SegmentationModel.load(directory: dir)
    let input = Tensor(shape: [1, 128, 112, 112], data: (0..<(128 * 112 * 112)).map { _ in generator.uniform(0, 1) })
    return (model, input, "random BasicUNet (16, 16, 32, 64, 128, 16), 14 classes (no SampleData/model)")
}

/// 2 × multiply-adds of every convolution and deconvolution in one window of a BasicUNet.
/// Every rank-5 weight is one; it runs at the resolution of its level: `down_i` at level i,
/// `upcat_i.convs` at level i − 1, `upcat_i.upsample.deconv` on its level-i input, the rest at 0.
private func convolutionFLOPs(model: SegmentationModel) -> Double {
    let windowVoxels = Double(model.roiSize.reduce(1, *))
    var total = 0.0
    for (key, shape) in model.definition.architecture.parameterShapes where shape.count == 5 {
        let digit = key.split(separator: ".")[0].last.flatMap { Int(String($0)) } ?? 0
        let level: Int
        if key.hasPrefix("down_") || key.contains(".deconv.") { level = digit }
        else if key.hasPrefix("upcat_") { level = digit - 1 }
        else { level = 0 }
        total += 2 * Double(shape.reduce(1, *)) * windowVoxels / pow(8, Double(level))
    }
    return total
}

func sgemmPeakGFLOPS() -> Double {
    let n = 1024
    let a = [Float](repeating: 0.5, count: n * n)
    let seconds = networkMedianSeconds(3) {
        DispatchQueue.concurrentPerform(iterations: 2) { _ in
            var c = [Float](repeating: 0, count: n * n)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(n), Int32(n), Int32(n), 1, a, Int32(n),
                        a, Int32(n), 0, &c, Int32(n))
        }
    }
    return 2 * 2 * pow(Double(n), 3) / seconds / 1e9
}

/// Minor page faults of the process so far (first touches of fresh pages).
func minorPageFaults() -> Int {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return usage.ru_minflt
}

/// VmHWM from /proc/self/status: the process's peak resident set so far.
func peakRSSMegabytes() -> Double {
    guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
          let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
          let kb = Double(line.split(separator: " ").dropFirst().first ?? "") else { return .nan }
    return kb / 1024
}

func networkMedianSeconds(_ runs: Int, _ body: () throws -> Void) rethrows -> Double {
    try body()
    var times: [Double] = []
    for _ in 0..<runs {
        let start = DispatchTime.now().uptimeNanoseconds
        try body()
        times.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
    }
    return times.sorted()[runs / 2]
}

struct BenchmarkRNG {
    var state: UInt64
    mutating func uniform(_ lo: Float, _ hi: Float) -> Float {
        state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        return lo + (hi - lo) * Float(state >> 40) / Float(1 << 24)
    }
}

/// Minimal F32 safetensors writer for the random reference model.
private func writeSafetensors(_ tensors: [(String, [Int], [Float])], to path: String) throws {
    var header: [String] = []
    var offset = 0
    for (name, shape, values) in tensors {
        header.append("\"\(name)\": {\"dtype\": \"F32\", \"shape\": \(shape), \"data_offsets\": [\(offset), \(offset + 4 * values.count)]}")
        offset += 4 * values.count
    }
    let json = Data(("{" + header.joined(separator: ", ") + "}").utf8)
    var data = Data()
    withUnsafeBytes(of: UInt64(json.count).littleEndian) { data.append(contentsOf: $0) }
    data.append(json)
    for (_, _, values) in tensors { values.withUnsafeBytes { data.append(contentsOf: $0) } }
    try data.write(to: URL(fileURLWithPath: path), options: .atomic)
}
