import Foundation

/// How much memory this process may use: the smaller of `MemAvailable` (/proc/meminfo) and what
/// is left under the cgroup limit (v2 `memory.max − memory.current`, or v1
/// `memory.limit_in_bytes − memory.usage_in_bytes`), unless `--max-memory` says otherwise.
public struct MemoryBudget: Sendable, Equatable {
    public var bytes: Double
    /// Where the number came from, for the refusal message.
    public var source: String

    public init(bytes: Double, source: String) {
        self.bytes = bytes
        self.source = source
    }

    /// The budget of the running process, or `override` bytes when given.
    public static func current(override: Double? = nil) -> MemoryBudget {
        if let override { return MemoryBudget(bytes: override, source: "--max-memory") }
        var best = MemoryBudget(bytes: .infinity, source: "no limit found")
        if let available = memAvailable() { best = MemoryBudget(bytes: available, source: "MemAvailable") }
        if let left = cgroupRemaining(), left < best.bytes { best = MemoryBudget(bytes: left, source: "the cgroup memory limit") }
        return best
    }

    /// Parses sizes such as `512M`, `8G`, `1.5GiB` or a plain byte count (powers of 1024).
    public static func parse(_ text: String) throws(DomainError) -> Double {
        let t = text.trimmingCharacters(in: .whitespaces).uppercased()
        let units: [(String, Double)] = [("TIB", 0x1p40), ("GIB", 0x1p30), ("MIB", 0x1p20), ("KIB", 0x1p10),
                                         ("TB", 0x1p40), ("GB", 0x1p30), ("MB", 0x1p20), ("KB", 0x1p10),
                                         ("T", 0x1p40), ("G", 0x1p30), ("M", 0x1p20), ("K", 0x1p10), ("B", 1)]
        var number = t
        var scale = 1.0
        if let (suffix, s) = units.first(where: { t.hasSuffix($0.0) }) {
            number = String(t.dropLast(suffix.count))
            scale = s
        }
        guard let v = Double(number), v.isFinite, v > 0 else {
            throw DomainError("--max-memory \"\(text)\" is not a size such as 512M, 8G or 1.5GiB")
        }
        return v * scale
    }

    /// Throws a message saying what needs how much, unless `needs` fits the budget.
    public func check(_ needs: Double, for what: String) throws(DomainError) {
        guard needs <= bytes else {
            throw DomainError("\(what) would hold about \(Self.format(needs)), more than the "
                + "\(Self.format(bytes)) available (\(source)); lower the count or set --max-memory")
        }
    }

    public static func format(_ bytes: Double) -> String {
        if !bytes.isFinite { return "unlimited memory" }
        if bytes >= 0x1p30 { return String(format: "%.1f GB", bytes / 0x1p30) }
        if bytes >= 0x1p20 { return String(format: "%.1f MB", bytes / 0x1p20) }
        return String(format: "%.0f KB", bytes / 0x1p10)
    }

    static func memAvailable() -> Double? {
        guard let text = try? String(contentsOfFile: "/proc/meminfo", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix("MemAvailable:") {
            let fields = line.split(separator: " ")
            if fields.count >= 2, let kb = Double(fields[1]) { return kb * 1024 }
        }
        return nil
    }

    static func cgroupRemaining() -> Double? {
        func number(_ path: String) -> Double? {
            guard let t = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
            return Double(t.trimmingCharacters(in: .whitespacesAndNewlines))
        }
        if let text = try? String(contentsOfFile: "/proc/self/cgroup", encoding: .utf8),
           let line = text.split(separator: "\n").first(where: { $0.hasPrefix("0::") }) {
            let dir = "/sys/fs/cgroup" + line.dropFirst(3)
            if let limit = number(dir + "/memory.max") {
                return max(limit - (number(dir + "/memory.current") ?? 0), 0)
            }
        }
        if let limit = number("/sys/fs/cgroup/memory/memory.limit_in_bytes"), limit < 0x1p60 {
            return max(limit - (number("/sys/fs/cgroup/memory/memory.usage_in_bytes") ?? 0), 0)
        }
        return nil
    }
}

/// A job's size, estimated from shapes and counts before it starts: peak memory and the number
/// of network passes, so absurd requests are refused with a reason instead of running out of
/// memory or running for years.
public struct JobEstimate: Sendable {
    /// Bytes held at the peak.
    public var bytes: Double = 0
    /// What dominates `bytes`, for the message ("IG with 1000000000 steps").
    public var memoryReason = ""
    /// Window passes through the network (forward + backward counts as one).
    public var windowPasses: Double = 0
    public var timeReason = ""

    public init() {}

    /// Seconds per window voxel per pass, measured with the bundled sample model (BasicUNet
    /// features 16…128): one gradient over a 128×112×112 window took 9.5 s on 2 cores.
    public static let secondsPerWindowVoxel = 9.5 / (128.0 * 112 * 112)
    /// Jobs estimated above this need `--yes`.
    public static let maxSecondsWithoutConfirmation = 24.0 * 3600

    /// Memory of the model grid and its prediction: the scan as read, reoriented and windowed,
    /// the resampled input, logits and window counts, labels, plus the activations of one window
    /// (about 200 floats per window voxel for the networks here).
    public mutating func addPrediction(scanVoxels: Int, modelVoxels: Int, classes: Int, roiVoxels: Int, windows: Int) {
        let v = Double(modelVoxels)
        bytes += 3 * 4 * Double(scanVoxels) + v * 4 * Double(classes + 4) + 200 * 4 * Double(roiVoxels)
        memoryReason = "the model grid of \(modelVoxels) voxels"
        windowPasses += Double(windows)
    }

    /// Adds one attribution method run `targets` times on `modelVoxels` voxels.
    public mutating func addAttribution(_ kind: AttributionMethodKind, options: AttributionOptions,
                                        modelVoxels: Int, classes: Int, windows: Int, targets: Int) {
        let v = Double(modelVoxels)
        // The map, the target mask, the Double accumulator and one perturbed input.
        bytes += v * (4 + 4 + 8 + 4)
        let n = Double(options.sampleCount(for: kind))
        let passes: Double
        switch kind {
        case .gradient, .inputXGradient:
            passes = 1
        case .integratedGradients:
            passes = Double(options.steps) + 2
            let held = 16 * Double(options.steps)
            if held > bytes / 2 { memoryReason = "IG with \(options.steps) steps" }
            bytes += held
        case .smoothgrad:
            passes = n
        case .occlusion:
            let side = Double(max(options.occlusionStride, 1))
            passes = v / (side * side * side) * 8 + 1
        case .kernelshap:
            let features = options.features == .cubes ? Double(options.cubeComponents) : Double(classes)
            // Coalitions (one Bool per feature) and the weighted least-squares system in Double.
            let held = n * features + 8 * n * (features + 3) * 2
            if held > bytes / 2 { memoryReason = "KernelSHAP with \(Int(n)) coalitions of \(Int(features)) features" }
            bytes += held
            passes = n + 1
        }
        let total = passes * Double(windows) * Double(targets)
        if total > windowPasses { timeReason = "\(kind.rawValue) needs \(Self.count(passes)) network passes per target" }
        windowPasses += total
    }

    /// Faithfulness subsets (Int indices) and their forward passes.
    public mutating func addFaithfulness(runs: Int, subsetSize: Int, windows: Int, targets: Int) {
        let held = 8 * Double(runs) * Double(subsetSize)
        if held > bytes { memoryReason = "\(runs) faithfulness runs of \(subsetSize) voxels" }
        bytes += held
        let passes = Double(runs) * Double(windows)
        if passes > windowPasses { timeReason = "\(runs) faithfulness runs need \(Self.count(passes)) network passes" }
        windowPasses += passes
    }

    public mutating func addRepeats(_ factor: Int, reason: String) {
        let extra = windowPasses * Double(max(factor, 0))
        if extra > windowPasses { timeReason = reason }
        windowPasses += extra
    }

    /// Estimated wall clock from the window passes.
    public func seconds(roiVoxels: Int) -> Double {
        windowPasses * Double(roiVoxels) * Self.secondsPerWindowVoxel
    }

    /// Throws unless the job fits the memory budget and, without `confirmed`, a day of compute.
    public func check(budget: MemoryBudget, roiVoxels: Int, confirmed: Bool) throws(DomainError) {
        try budget.check(bytes, for: memoryReason.isEmpty ? "this job" : memoryReason)
        let s = seconds(roiVoxels: roiVoxels)
        if !confirmed, s > Self.maxSecondsWithoutConfirmation {
            throw DomainError("\(timeReason.isEmpty ? "this job" : timeReason), about \(Self.duration(s)) "
                + "at the measured rate; pass --yes to run it anyway")
        }
    }

    static func count(_ v: Double) -> String { v < 1e15 ? String(Int(v)) : String(format: "%.3g", v) }

    static func duration(_ s: Double) -> String {
        if s >= 365 * 86400 { return String(format: "%.3g years", s / (365 * 86400)) }
        if s >= 86400 { return String(format: "%.1f days", s / 86400) }
        return String(format: "%.1f hours", s / 3600)
    }
}
