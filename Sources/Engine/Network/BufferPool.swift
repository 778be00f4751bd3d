import CKernels
import Foundation

/// Recycles the large feature-map buffers of network passes.
///
/// A fresh buffer from the system costs a page fault and a zeroed page per 4 KB on first touch,
/// about a second per gigabyte on the development VM, and a UNet pass allocates many gigabytes of
/// 60–270 MB maps (17% of an nnU-Net tile benchmark's time went there). During a pass, freed buffers
/// are kept and handed out again: the smallest one that is large enough, its pages beyond the
/// request returned to the system; when none is, the one with the most pages already touched is
/// grown. Peak memory does not grow: cached buffers are released as soon as live plus cached
/// bytes would exceed the most that has been live at once since the pass began or last made room
/// (`makeRoom`), a lower bound of the peak without recycling. Passes in a row
/// (`NetworkMemory.acrossPasses`) count as one, so each starts on the maps the one before freed.
/// When the last pass ends, every cached buffer is released. Outside passes
/// buffers go straight back to the system, and buffers under 1 MB (by default) use malloc.
final class BufferPool: @unchecked Sendable {
    static let shared = BufferPool()

    /// Smaller buffers come from malloc, whose heap recycles them anyway.
    static let defaultMinimumBytes = 1 << 20
    private static let pageBytes = Int(sysconf(Int32(_SC_PAGESIZE)))

    private struct Cached {
        let base: UnsafeMutablePointer<Float>
        let capacity: Int
        /// Bytes from the start that may be resident (touched and not discarded since).
        let resident: Int
    }

    private let lock = NSLock()
    private var cached: [Cached] = []
    /// Bytes of pool buffers in use, each counted at its requested size in whole pages.
    private var live = 0
    /// The most `live` has been since a pass began with none running, or since `releaseCached`.
    private var highWater = 0
    private var passes = 0
    private var minimumBytes = BufferPool.defaultMinimumBytes
    private var peaks = NetworkMemory.Peaks(live: 0, held: 0, reused: 0)

    /// Runs one network pass; buffers freed during it may be reused by it (or by a concurrent one).
    func duringPass<T>(_ body: () throws -> T) rethrows -> T {
        lock.lock()
        if passes == 0 { highWater = live }
        passes += 1
        lock.unlock()
        defer { endPass() }
        return try body()
    }

    private func endPass() {
        lock.lock()
        passes -= 1
        let last = passes == 0
        lock.unlock()
        if last { releaseCached() }
    }

    /// Releases every kept buffer and restarts the high-water mark from the bytes in use.
    func releaseCached() { makeRoom(forBytes: .max) }

    /// Releases kept buffers, most pages first, until `bytes` more fit under the high-water mark,
    /// then restarts the mark from the bytes held. A pass calls it before memory the pool does not
    /// see is allocated (the logits copied into a `Tensor`, the caller's output gradient, the input
    /// gradient), so held bytes plus that memory stay within the peak there would be without
    /// recycling; what still fits is kept for the rest of the pass, or for the next pass in a row.
    func makeRoom(forBytes bytes: Int) {
        lock.lock()
        cached.sort { $0.resident < $1.resident }
        var held = live + cached.reduce(0) { $0 + $1.resident }
        var released: [Cached] = []
        while held > highWater - min(bytes, highWater), let c = cached.popLast() {
            held -= c.resident
            released.append(c)
        }
        highWater = held
        lock.unlock()
        for c in released { ck_pages_unmap(c.base, c.capacity) }
    }

    /// Room for `count` floats and the capacity (bytes) to give back to `release`; capacity 0
    /// means malloc.
    func allocate(count: Int) -> (pointer: UnsafeMutablePointer<Float>, capacity: Int) {
        let requested = count * MemoryLayout<Float>.stride
        lock.lock()
        guard requested >= minimumBytes, requested > 0 else {
            lock.unlock()
            return (.allocate(capacity: max(1, count)), 0)
        }
        let bytes = Self.pages(requested)
        live += bytes
        highWater = max(highWater, live)
        // The smallest large enough; else the one with the most touched pages, grown (all are
        // smaller than the request).
        let fits = cached.indices.filter { cached[$0].capacity >= bytes }
        let chosen = fits.isEmpty ? cached.indices.max { cached[$0].resident < cached[$1].resident }
                                  : fits.min { cached[$0].capacity < cached[$1].capacity }
        let reused = chosen.map { cached.remove(at: $0) }
        // Release others, largest first, while live plus cached bytes exceed the high-water mark.
        cached.sort { $0.resident < $1.resident }
        var total = live + cached.reduce(0) { $0 + $1.resident }
        var released: [Cached] = []
        while total > highWater, let c = cached.popLast() {
            total -= c.resident
            released.append(c)
        }
        peaks = NetworkMemory.Peaks(live: max(peaks.live, live), held: max(peaks.held, total),
                                    reused: peaks.reused + (reused == nil ? 0 : 1))
        lock.unlock()
        for c in released { ck_pages_unmap(c.base, c.capacity) }
        let pointer: UnsafeMutablePointer<Float>?, capacity: Int
        switch reused {
        case let r? where r.capacity >= bytes:
            if r.resident > bytes {
                ck_pages_discard(r.base + bytes / MemoryLayout<Float>.stride, r.resident - bytes)
            }
            (pointer, capacity) = (r.base, r.capacity)
        case let r?:
            (pointer, capacity) = (ck_pages_grow(r.base, r.capacity, bytes), bytes)
        case nil:
            (pointer, capacity) = (ck_pages_map(bytes), bytes)
        }
        guard let pointer else { fatalError("out of memory: a \(bytes >> 20) MB feature map could not be mapped") }
        return (pointer, capacity)
    }

    /// Gives back a buffer from `allocate(count:)`.
    func release(_ pointer: UnsafeMutablePointer<Float>, count: Int, capacity: Int) {
        guard capacity > 0 else { return pointer.deallocate() }
        let bytes = Self.pages(count * MemoryLayout<Float>.stride)
        lock.lock()
        live -= bytes
        if passes > 0 {
            cached.append(Cached(base: pointer, capacity: capacity, resident: bytes))
            lock.unlock()
        } else {
            lock.unlock()
            ck_pages_unmap(pointer, capacity)
        }
    }

    /// `bytes` rounded up to whole pages.
    private static func pages(_ bytes: Int) -> Int { (bytes + pageBytes - 1) / pageBytes * pageBytes }

    func setMinimumBytes(_ bytes: Int?) {
        lock.lock()
        minimumBytes = bytes ?? Self.defaultMinimumBytes
        lock.unlock()
    }

    /// The peaks so far, then starts them again from the bytes live now.
    func takePeaks() -> NetworkMemory.Peaks {
        lock.lock()
        defer { lock.unlock() }
        let taken = peaks
        peaks = NetworkMemory.Peaks(live: live, held: live + cached.reduce(0) { $0 + $1.resident }, reused: 0)
        return taken
    }
}

/// How network passes hold feature-map memory (see `BufferPool`), for measurements and tests.
public enum NetworkMemory {
    /// Peaks of recycled feature maps, in bytes: `live` in use at once, `held` in use plus kept
    /// for reuse (never above `live`'s peak so far); `reused` counts buffers handed out again.
    public struct Peaks: Sendable, Equatable {
        public let live: Int
        public let held: Int
        public let reused: Int
    }

    /// Recycles feature maps of at least `bytes` (nil: the default, 1 MB; 0 recycles every map).
    public static func recycle(minimumBytes bytes: Int?) { BufferPool.shared.setMinimumBytes(bytes) }

    /// The peaks since the last call (or the start), then restarts them.
    public static func takePeaks() -> Peaks { BufferPool.shared.takePeaks() }

    /// Runs network passes in a row (the steps of a method, the windows of a scan) as one pass of
    /// the pool: each reuses the maps the one before freed, already paged in, instead of touching
    /// fresh pages, under the same bound on held memory. Everything kept is released at the end.
    public static func acrossPasses<T>(_ body: () throws -> T) rethrows -> T {
        try BufferPool.shared.duringPass(body)
    }
}
