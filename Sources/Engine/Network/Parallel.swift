import COpenBLAS
import Foundation

/// How many workers the kernels use. By default the cores this process may run on: its CPU
/// affinity mask, capped by a cgroup v2 CPU quota (`cpu.max`) when one is set, as a container or a
/// SLURM job limits it. `set(_:)` (the CLI's `--threads N`) overrides it. Convolution outputs do not
/// depend on the count (Conv3d is translation-exact).
public enum ComputeThreads {
    private static let lock = NSLock()
    nonisolated(unsafe) private static var chosen: Int?

    /// Cores this process may use.
    public static let available: Int = {
        openblas_set_num_threads(1)
        let affinity = affinityCount() ?? ProcessInfo.processInfo.activeProcessorCount
        return max(1, min(affinity, cgroupQuota() ?? affinity))
    }()

    /// The worker count in use.
    public static var current: Int {
        lock.lock()
        defer { lock.unlock() }
        return chosen ?? available
    }

    /// Uses `count` workers from now on (at least 1); nil returns to `available`.
    public static func set(_ count: Int?) {
        _ = available
        lock.lock()
        chosen = count.map { max(1, $0) }
        lock.unlock()
    }

    /// CPUs in the affinity mask (`Cpus_allowed` of /proc/self/status, comma-separated hex words).
    static func affinityCount() -> Int? {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("Cpus_allowed:") }) else { return nil }
        let hex = line.dropFirst("Cpus_allowed:".count).trimmingCharacters(in: .whitespaces)
        let count = hex.split(separator: ",").reduce(0) { $0 + (UInt64($1, radix: 16)?.nonzeroBitCount ?? 0) }
        return count > 0 ? count : nil
    }

    /// ⌈quota / period⌉ from /sys/fs/cgroup/cpu.max ("max 100000" means no quota).
    public static func cgroupQuota(cpuMax text: String? = try? String(contentsOfFile: "/sys/fs/cgroup/cpu.max",
                                                                   encoding: .utf8)) -> Int? {
        guard let parts = text?.split(whereSeparator: { $0 == " " || $0 == "\n" }), parts.count >= 2,
              let quota = Double(parts[0]), let period = Double(parts[1]), quota > 0, period > 0 else { return nil }
        return max(1, Int((quota / period).rounded(.up)))
    }
}

/// Work splitting for the network kernels.
///
/// All parallelism is done here, on `DispatchQueue.concurrentPerform`, and OpenBLAS runs
/// single-threaded inside each worker: the convolutions call many small `sgemm`s on cache-sized
/// column chunks, and two workers each owning a chunk keep both cores busy without OpenBLAS's own
/// thread pool handing work back and forth on every call.
enum Parallel {
    /// Number of workers (`ComputeThreads.current`).
    static var workerCount: Int { ComputeThreads.current }

    /// Calls `body` for every index in `0..<count`, spread over the workers in contiguous blocks.
    /// `body` receives a range so that per-worker scratch buffers can be allocated once.
    static func forEachBlock(_ count: Int, minimumPerWorker: Int = 1,
                             _ body: @Sendable (Range<Int>) -> Void) {
        guard count > 0 else { return }
        let workers = min(workerCount, max(1, count / max(1, minimumPerWorker)))
        if workers == 1 {
            body(0..<count)
            return
        }
        DispatchQueue.concurrentPerform(iterations: workers) { w in
            let lo = count * w / workers
            let hi = count * (w + 1) / workers
            if lo < hi { body(lo..<hi) }
        }
    }

    /// Runs `body` once per worker; each call takes indices of `0..<count` from `next()` until it
    /// returns nil. Indices go to whichever worker is free, so a worker slowed by other load on
    /// the machine takes fewer instead of holding the others up; `body` can set up per-worker
    /// scratch once.
    static func forEachClaimed(_ count: Int, _ body: @Sendable (_ next: () -> Int?) -> Void) {
        guard count > 0 else { return }
        let workers = min(workerCount, count)
        let counter = ClaimCounter(limit: count)
        if workers == 1 {
            body(counter.next)
            return
        }
        DispatchQueue.concurrentPerform(iterations: workers) { _ in body(counter.next) }
    }

    /// Calls `body` for each index, with dynamic scheduling (for uneven items such as channels
    /// of different cost). Iterations must be independent.
    static func forEach(_ count: Int, _ body: @Sendable (Int) -> Void) {
        guard count > 0 else { return }
        if workerCount == 1 || count == 1 {
            for i in 0..<count { body(i) }
            return
        }
        DispatchQueue.concurrentPerform(iterations: count, execute: body)
    }
}

/// The next unclaimed index below `limit`, shared by the workers of `forEachClaimed`.
private final class ClaimCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var value = 0
    private let limit: Int

    init(limit: Int) { self.limit = limit }

    func next() -> Int? {
        lock.lock()
        defer { lock.unlock() }
        guard value < limit else { return nil }
        value += 1
        return value - 1
    }
}

/// A raw pointer that may cross into `concurrentPerform` workers, which write disjoint ranges.
struct SharedPointer<T>: @unchecked Sendable {
    let base: UnsafeMutablePointer<T>
    init(_ base: UnsafeMutablePointer<T>) { self.base = base }
    subscript(i: Int) -> T {
        get { base[i] }
        nonmutating set { base[i] = newValue }
    }
    static func + (p: SharedPointer, offset: Int) -> UnsafeMutablePointer<T> { p.base + offset }
}
