import CKernels
import Foundation

/// SHA-256 (FIPS 180-4), streamed. Names cache entries by content (scan, weights, options) and
/// checks that an entry read back is the one written; Foundation on Linux has no digest API.
public struct SHA256: Sendable {
    private var state: (UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32) =
        (0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19)
    /// Bytes not yet compressed (always fewer than 64).
    private var pending: [UInt8] = []
    private var length: UInt64 = 0
    /// Whether blocks go through the CPU's SHA instructions (the portable code otherwise).
    public let accelerated: Bool

    /// True when this CPU has the SHA instructions.
    public static let hardwareAvailable = ck_sha256_accelerated() == 1

    /// - Parameter accelerated: use the SHA instructions; false forces the portable code (both give
    ///   the same digest, which the tests check).
    public init(accelerated: Bool = SHA256.hardwareAvailable) {
        self.accelerated = accelerated && SHA256.hardwareAvailable
        pending.reserveCapacity(64)
    }

    /// The digest of `data` as 64 lower-case hex digits.
    public static func hex(_ data: Data) -> String {
        var h = SHA256()
        h.update(data)
        return h.finalizeHex()
    }

    public static func hex(_ text: String) -> String { hex(Data(text.utf8)) }

    /// Adds the bytes of the file at `path`, read in 1 MiB pieces.
    public mutating func update(fileAt path: String) throws {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw FileCheckError(path: path, problem: "cannot be read")
        }
        defer { try? handle.close() }
        while let chunk = try handle.read(upToCount: 1 << 20), !chunk.isEmpty { update(chunk) }
    }

    public mutating func update(_ data: Data) {
        data.withUnsafeBytes { update(UnsafeRawBufferPointer($0)) }
    }

    /// Hashes the in-memory bytes of an array of trivial values (e.g. Float voxels, little-endian).
    public mutating func update<T: BitwiseCopyable>(contentsOf values: [T]) {
        values.withUnsafeBytes { update($0) }
    }

    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        length &+= UInt64(bytes.count)
        var offset = 0
        if !pending.isEmpty {
            let take = min(64 - pending.count, bytes.count)
            pending.append(contentsOf: UnsafeRawBufferPointer(start: base, count: take))
            offset = take
            guard pending.count == 64 else { return }
            pending.withUnsafeBytes { compress($0.baseAddress!, blocks: 1) }
            pending.removeAll(keepingCapacity: true)
        }
        let whole = (bytes.count - offset) / 64
        if whole > 0 {
            compress(base + offset, blocks: whole)
            offset += 64 * whole
        }
        if offset < bytes.count {
            pending.append(contentsOf: UnsafeRawBufferPointer(start: base + offset, count: bytes.count - offset))
        }
    }

    /// The 32-byte digest. Padding is applied to a copy, so `self` can keep streaming.
    public func finalize() -> [UInt8] {
        var copy = self
        let bitLength = length &* 8
        var tail = pending
        tail.append(0x80)
        while tail.count % 64 != 56 { tail.append(0) }
        for shift in stride(from: 56, through: 0, by: -8) { tail.append(UInt8(truncatingIfNeeded: bitLength >> UInt64(shift))) }
        tail.withUnsafeBytes { raw in copy.compress(raw.baseAddress!, blocks: raw.count / 64) }
        let s = copy.state
        var out: [UInt8] = []
        out.reserveCapacity(32)
        for word in [s.0, s.1, s.2, s.3, s.4, s.5, s.6, s.7] {
            for shift in stride(from: 24, through: 0, by: -8) { out.append(UInt8(truncatingIfNeeded: word >> UInt32(shift))) }
        }
        return out
    }

    public func finalizeHex() -> String {
        finalize().map { String(format: "%02x", $0) }.joined()
    }

    @inline(__always)
    private static func rotr(_ x: UInt32, _ n: UInt32) -> UInt32 { (x >> n) | (x << (32 - n)) }

    /// `blocks` consecutive 64-byte blocks into the state.
    private mutating func compress(_ start: UnsafeRawPointer, blocks: Int) {
        if accelerated {
            withUnsafeMutableBytes(of: &state) { words in
                ck_sha256_blocks(words.baseAddress!.assumingMemoryBound(to: UInt32.self),
                                 start.assumingMemoryBound(to: UInt8.self), blocks)
            }
            return
        }
        for block in 0..<blocks { compressPortably(start + 64 * block) }
    }

    /// One 64-byte block into the state, in plain Swift.
    private mutating func compressPortably(_ block: UnsafeRawPointer) {
        withUnsafeTemporaryAllocation(of: UInt32.self, capacity: 64) { w in
            for t in 0..<16 {
                w[t] = UInt32(bigEndian: block.loadUnaligned(fromByteOffset: 4 * t, as: UInt32.self))
            }
            for t in 16..<64 {
                let s0 = Self.rotr(w[t - 15], 7) ^ Self.rotr(w[t - 15], 18) ^ (w[t - 15] >> 3)
                let s1 = Self.rotr(w[t - 2], 17) ^ Self.rotr(w[t - 2], 19) ^ (w[t - 2] >> 10)
                w[t] = w[t - 16] &+ s0 &+ w[t - 7] &+ s1
            }
            var (a, b, c, d, e, f, g, h) = state
            let k = ck_sha256_round_constants()!
            for t in 0..<64 {
                let s1 = Self.rotr(e, 6) ^ Self.rotr(e, 11) ^ Self.rotr(e, 25)
                let ch = (e & f) ^ (~e & g)
                let t1 = h &+ s1 &+ ch &+ k[t] &+ w[t]
                let s0 = Self.rotr(a, 2) ^ Self.rotr(a, 13) ^ Self.rotr(a, 22)
                let maj = (a & b) ^ (a & c) ^ (b & c)
                let t2 = s0 &+ maj
                h = g; g = f; f = e; e = d &+ t1
                d = c; c = b; b = a; a = t1 &+ t2
            }
            state = (state.0 &+ a, state.1 &+ b, state.2 &+ c, state.3 &+ d,
                     state.4 &+ e, state.5 &+ f, state.6 &+ g, state.7 &+ h)
        }
    }
}
