import COpenBLAS
import Foundation

/// Work splitting for the network kernels.
///
/// All parallelism is done here, on `DispatchQueue.concurrentPerform`, and OpenBLAS runs
/// single-threaded inside each worker: the convolutions call many small `sgemm`s on cache-sized
/// column chunks, and two workers each owning a chunk keep both cores busy without OpenBLAS's own
/// thread pool handing work back and forth on every call.
enum Parallel {
    /// Number of workers: one per active core.
    static let workerCount: Int = {
        openblas_set_num_threads(1)
        return max(1, ProcessInfo.processInfo.activeProcessorCount)
    }()

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
