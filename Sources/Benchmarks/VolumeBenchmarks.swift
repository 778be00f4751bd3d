import Engine
import Foundation

/// Times reading the sample CT and resampling it to 1.5 mm (median of several runs; 3 for
/// nnU-Net's resampling), each also given as a ratio to one elementwise pass over the scan (HU
/// windowing) measured in the same run.
func runVolumeBenchmarks() {
    guard let scanPath = SampleData.scanPath, let labelsPath = SampleData.labelsPath else {
        print("volume benchmarks: SampleData not found (set AGG2EXP_SAMPLE_DATA)")
        return
    }
    do {
        let scan = try NIfTI.readVolume(scanPath)
        let labels = try NIfTI.readLabelMap(labelsPath)
        let tmp = FileManager.default.temporaryDirectory.appendingPathComponent("agg2exp-bench-\(getpid()).nii").path
        try NIfTI.write(scan, to: tmp)
        defer { try? FileManager.default.removeItem(atPath: tmp) }

        let runs = 9
        // nnU-Net's resampling of the (z, y, x) array and of float16 logits on the 1.5 mm grid.
        let zyx = Array(scan.grid.dims.reversed()), fine = zyx.map { $0 * 2 }
        let logits = [Float16](repeating: 0.5, count: 3 * fine.reduce(1, *))
        let reference = volumeMedianSeconds(runs) { _ = scan.windowed(aMin: -175, aMax: 250, bMin: 0, bMax: 1, clip: true) }
        let rows: [(String, Double)] = [
            ("read sample CT (.nii.gz, int32 → float32)", volumeMedianSeconds(runs) { _ = try? NIfTI.readVolume(scanPath) }),
            ("read same CT uncompressed (.nii, float32)", volumeMedianSeconds(runs) { _ = try? NIfTI.readVolume(tmp) }),
            ("read sample label map (.nii.gz, uint8)", volumeMedianSeconds(runs) { _ = try? NIfTI.readLabelMap(labelsPath) }),
            ("resample CT 3 → 1.5 mm, trilinear", volumeMedianSeconds(runs) { _ = scan.resampled(toSpacing: [1.5, 1.5, 1.5]) }),
            ("resample labels 3 → 1.5 mm, nearest", volumeMedianSeconds(runs) { _ = labels.resampled(toSpacing: [1.5, 1.5, 1.5]) }),
            ("reorient CT RAS → LPS", volumeMedianSeconds(runs) { _ = scan.reoriented(to: "LPS") }),
            ("nnU-Net resample CT 3 → 1.5 mm, order 3", volumeMedianSeconds(3) {
                _ = NNUNetResampling(order: 3).resample(scan.voxels, channels: 1, shape: zyx, to: fine,
                                                        current: [3, 3, 3], new: [1.5, 1.5, 1.5])
            }),
            ("nnU-Net 3 logits back 1.5 → 3 mm, order 1", volumeMedianSeconds(3) {
                _ = NNUNetResampling(order: 1).resample(logits, channels: 3, shape: fine, to: zyx,
                                                        current: [1.5, 1.5, 1.5], new: [3, 3, 3])
            }),
        ]
        let out = scan.resampled(toSpacing: [1.5, 1.5, 1.5])
        print("volume benchmarks: sample CT \(scan.grid.dims.map(String.init).joined(separator: "×")) "
              + "→ \(out.grid.dims.map(String.init).joined(separator: "×")) at 1.5 mm; median of \(runs) runs")
        let pad = { (s: String) in s.padding(toLength: 44, withPad: " ", startingAt: 0) }
        print("  " + pad("window HU, one pass over the scan") + String(format: " %9.2f ms  (reference)", reference * 1e3))
        for (name, t) in rows {
            print("  " + pad(name) + String(format: " %9.2f ms  %7.1f× reference", t * 1e3, t / reference))
        }
    } catch {
        print("volume benchmarks failed: \(error)")
    }
}

private func volumeMedianSeconds(_ runs: Int, _ body: () -> Void) -> Double {
    body()  // warm-up: page cache, allocator
    var times: [Double] = []
    for _ in 0..<runs {
        let start = DispatchTime.now().uptimeNanoseconds
        body()
        times.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
    }
    return times.sorted()[runs / 2]
}
