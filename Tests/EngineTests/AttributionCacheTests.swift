import CNifti
import Engine
import Foundation
import TestSupport
import XCTest

/// SHA-256 against Python hashlib and the entry checksum against Python zlib.crc32
/// (Fixtures/cache/make_cache_reference.py).
final class SHA256Tests: XCTestCase {
    /// Both block functions, the SHA instructions (where the CPU has them) and the portable code.
    func testDigestsMatchHashlib() throws {
        try checkAgainstHashlib(accelerated: false)
        if SHA256.hardwareAvailable { try checkAgainstHashlib(accelerated: true) }
    }

    func testBothBlockFunctionsAgreeOnLongStreams() {
        var generator = SystemRandomNumberGenerator()
        for length in [0, 1, 63, 64, 65, 127, 128, 1000, 4096, 100_003] {
            let bytes = Data((0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) })
            var portable = SHA256(accelerated: false)
            var fast = SHA256()
            portable.update(bytes)
            // The accelerated hasher gets the bytes in pieces that straddle block boundaries.
            var offset = 0
            while offset < length {
                let end = min(length, offset + 1 + (offset * 7) % 200)
                fast.update(bytes.subdata(in: offset..<end))
                offset = end
            }
            XCTAssertEqual(fast.finalizeHex(), portable.finalizeHex(), "\(length) random bytes")
        }
    }

    private func checkAgainstHashlib(accelerated: Bool) throws {
        let path = accelerated ? "SHA instructions" : "portable code"
        let url = try XCTUnwrap(Bundle.module.url(forResource: "Fixtures/cache/cache_reference", withExtension: "json"))
        let cases = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [[String: Any]])
        XCTAssertEqual(cases.count, 11)
        func hex(_ data: Data) -> String {
            var hasher = SHA256(accelerated: accelerated)
            hasher.update(data)
            return hasher.finalizeHex()
        }
        for c in cases {
            let expected = try XCTUnwrap(c["sha256"] as? String)
            switch c["kind"] as? String {
            case "text":
                let text = try XCTUnwrap(c["text"] as? String)
                XCTAssertEqual(hex(Data(text.utf8)), expected, "text '\(text)', \(path)")
                if !accelerated { XCTAssertEqual(SHA256.hex(text), expected, "text '\(text)', default hasher") }
            case "pattern":
                let n = try XCTUnwrap(c["length"] as? Int)
                let bytes = Data((0..<n).map { UInt8($0 % 251) })
                XCTAssertEqual(hex(bytes), expected, "pattern of \(n) bytes, \(path)")
                // Streamed in uneven pieces (1, 63, 64, 100, … bytes) it is the same digest.
                var hasher = SHA256(accelerated: accelerated)
                let sizes = [1, 63, 64, 100, 7]
                var (offset, piece) = (0, 0)
                while offset < n {
                    let end = min(n, offset + sizes[piece % sizes.count])
                    hasher.update(bytes.subdata(in: offset..<end))
                    (offset, piece) = (end, piece + 1)
                }
                XCTAssertEqual(hasher.finalizeHex(), expected, "streamed pattern of \(n) bytes, \(path)")
                let crc = bytes.withUnsafeBytes { cnifti_crc32(0, $0.baseAddress, $0.count) }
                XCTAssertEqual(Int(crc), c["crc32"] as? Int, "CRC-32 of \(n) bytes")
            case "float32-ramp":
                let count = try XCTUnwrap(c["count"] as? Int)
                var hasher = SHA256(accelerated: accelerated)
                hasher.update(contentsOf: (0..<count).map { Float($0) / 23 })
                XCTAssertEqual(hasher.finalizeHex(), expected, path)
            default:
                XCTFail("unknown case \(c)")
            }
        }
    }
}

final class AttributionCacheTests: XCTestCase {
    private func cache(capacity: Int64 = 1 << 20) throws -> AttributionCache {
        AttributionCache(directory: URL(fileURLWithPath: try makeTemporaryDirectory(self)), capacityBytes: capacity)
    }

    private let voxels: [Float] = (0..<60).map { Float($0) * 0.25 - 3 }

    private func entryPath(_ cache: AttributionCache, _ key: String) -> String {
        cache.entriesDirectory.appendingPathComponent("\(key).a2xc").path
    }

    func testStoredMapsComeBackWithTheirDetails() throws {
        let c = try cache()
        let key = AttributionCache.key(["scan a", "method gradient", "target 1"])
        try c.store(key, dims: [5, 4, 3], voxels: voxels, details: [("runtime", "1.25 s"), ("steps", "20")])
        guard case .hit(let entry) = c.lookup(key, dims: [5, 4, 3]) else { return XCTFail("expected a hit") }
        XCTAssertEqual(entry.voxels, voxels)
        XCTAssertEqual(entry.details.map(\.0), ["runtime", "steps"])
        XCTAssertEqual(entry.details.map(\.1), ["1.25 s", "20"])
        guard case .miss = c.lookup(AttributionCache.key(["scan a", "method gradient", "target 2"]), dims: [5, 4, 3])
        else { return XCTFail("another key is a miss") }
        let names = try FileManager.default.contentsOfDirectory(atPath: c.entriesDirectory.path)
        XCTAssertEqual(names, ["\(key).a2xc"], "one entry, no temporary left behind")
    }

    func testKeysDependOnEveryPart() {
        let base = AttributionCache.key(["scan a", "model m", "method gradient", "target 1"])
        XCTAssertEqual(base, SHA256.hex("scan a\nmodel m\nmethod gradient\ntarget 1"))
        XCTAssertNotEqual(base, AttributionCache.key(["scan a", "model n", "method gradient", "target 1"]))
        XCTAssertNotEqual(base, AttributionCache.key(["scan a", "model m", "method gradient", "target 10"]))
    }

    /// A damaged byte, a cut-off file, another key's file and the wrong dims are all detected,
    /// reported and removed; the caller then recomputes.
    func testCorruptAndPartialEntriesAreDetectedAndRemoved() throws {
        let c = try cache()
        let key = AttributionCache.key(["k"])
        let path = entryPath(c, key)
        func expectCorrupt(_ fragment: String, dims: [Int] = [5, 4, 3], line: UInt = #line) {
            guard case .corrupt(let why) = c.lookup(key, dims: dims) else {
                return XCTFail("expected a corrupt entry", line: line)
            }
            XCTAssertTrue(why.contains(fragment), why, line: line)
            XCTAssertFalse(FileManager.default.fileExists(atPath: path), "the entry is removed", line: line)
            guard case .miss = c.lookup(key, dims: dims) else { return XCTFail("then a miss", line: line) }
        }

        try c.store(key, dims: [5, 4, 3], voxels: voxels, details: [])
        var bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        bytes[bytes.count - 100] ^= 0x01
        try bytes.write(to: URL(fileURLWithPath: path))
        expectCorrupt("checksum mismatch")

        try c.store(key, dims: [5, 4, 3], voxels: voxels, details: [])
        bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        try bytes.prefix(bytes.count / 2).write(to: URL(fileURLWithPath: path))
        expectCorrupt("checksum mismatch")

        try Data("A2X".utf8).write(to: URL(fileURLWithPath: path))
        expectCorrupt("truncated")

        try c.store(key, dims: [5, 4, 3], voxels: voxels, details: [])
        expectCorrupt("dims [5, 4, 3] are not [3, 4, 5]", dims: [3, 4, 5])

        // A valid entry under the wrong name (e.g. copied by hand).
        let other = AttributionCache.key(["other"])
        try c.store(other, dims: [5, 4, 3], voxels: voxels, details: [])
        try FileManager.default.moveItem(atPath: entryPath(c, other), toPath: path)
        expectCorrupt("belongs to another key")
    }

    /// With room for two entries, storing a third evicts the least recently used; a hit counts as use.
    func testLeastRecentlyUsedEntryIsEvictedAtTheCap() throws {
        let entryBytes = Int64(try {
            let probe = try cache()
            try probe.store("probe", dims: [5, 4, 3], voxels: voxels, details: [])
            return try Data(contentsOf: URL(fileURLWithPath: entryPath(probe, "probe"))).count
        }())
        let c = try cache(capacity: entryBytes * 5 / 2)
        let (a, b, d) = (AttributionCache.key(["a"]), AttributionCache.key(["b"]), AttributionCache.key(["d"]))
        try c.store(a, dims: [5, 4, 3], voxels: voxels, details: [])
        try c.store(b, dims: [5, 4, 3], voxels: voxels, details: [])
        // a is older than b, then a is read: b becomes the least recently used.
        let fm = FileManager.default
        try fm.setAttributes([.modificationDate: Date(timeIntervalSince1970: 1_000_000)], ofItemAtPath: entryPath(c, a))
        try fm.setAttributes([.modificationDate: Date(timeIntervalSince1970: 2_000_000)], ofItemAtPath: entryPath(c, b))
        guard case .hit = c.lookup(a, dims: [5, 4, 3]) else { return XCTFail("a is cached") }
        try c.store(d, dims: [5, 4, 3], voxels: voxels, details: [])
        XCTAssertTrue(fm.fileExists(atPath: entryPath(c, a)))
        XCTAssertFalse(fm.fileExists(atPath: entryPath(c, b)), "b was least recently used")
        XCTAssertTrue(fm.fileExists(atPath: entryPath(c, d)))

        // A map larger than the whole cap is not stored (and evicts nothing).
        let small = try cache(capacity: entryBytes - 1)
        try small.store(a, dims: [5, 4, 3], voxels: voxels, details: [])
        guard case .miss = small.lookup(a, dims: [5, 4, 3]) else { return XCTFail("too large to cache") }
    }

    func testLocationAndCapFollowTheEnvironment() throws {
        let xdg = try AttributionCache.standard(environment: ["XDG_CACHE_HOME": "/x/cache", "HOME": "/home/u"])
        XCTAssertEqual(xdg?.directory.path, "/x/cache/agg2exp")
        XCTAssertEqual(xdg?.capacityBytes, Int64(AttributionCache.defaultCapacityMiB) << 20)
        // A relative XDG_CACHE_HOME is ignored, as the XDG base-directory rule says.
        let home = try AttributionCache.standard(environment: ["XDG_CACHE_HOME": "rel", "HOME": "/home/u"])
        XCTAssertEqual(home?.directory.path, "/home/u/.cache/agg2exp")
        XCTAssertEqual(try AttributionCache.standard(environment: ["HOME": "/h", "AGG2EXP_CACHE_MB": "64"])?.capacityBytes,
                       64 << 20)
        XCTAssertEqual(try AttributionCache.standard(environment: ["HOME": "/h", "AGG2EXP_CACHE_MB": "64"],
                                                     megabytes: 8)?.capacityBytes, 8 << 20, "the flag wins")
        XCTAssertNil(try AttributionCache.standard(environment: ["HOME": "/h", "AGG2EXP_CACHE_MB": "0"]), "0 is off")
        XCTAssertNil(try AttributionCache.standard(environment: [:]), "no home, no cache")
        XCTAssertThrowsError(try AttributionCache.standard(environment: ["HOME": "/h", "AGG2EXP_CACHE_MB": "lots"])) {
            XCTAssertEqual(($0 as? DomainError)?.message,
                           "AGG2EXP_CACHE_MB must be a whole number of MiB (0 turns the cache off), not \"lots\"")
        }
    }
}
