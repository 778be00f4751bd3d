import CNifti
import Foundation

/// Attribution maps kept on disk between runs, so reopening a scan shows its maps without
/// recomputing them.
///
/// Entries live in `<directory>/attributions/<key>.a2xc`, one file per map, named by a key the
/// caller derives from everything the map depends on (`key(_:)`, SHA-256). Each file ends in the
/// CRC-32 of all bytes before it (zlib's, far cheaper than a second SHA-256 pass over the map; it
/// guards against damage, not forgery), so a truncated or damaged entry is detected,
/// removed and reported as corrupt instead of being shown. Entries are written through `AtomicFile`. The directory is kept
/// under `capacityBytes` by evicting the least recently used entries (a hit refreshes the file's
/// modification time).
public struct AttributionCache: Sendable {
    /// Default size cap in MiB.
    public static let defaultCapacityMiB = 1024
    /// Environment variable that sets the cap in MiB (0 turns the cache off).
    public static let capacityVariable = "AGG2EXP_CACHE_MB"
    static let magic = Array("A2XCACHE".utf8)
    static let formatVersion: UInt32 = 1
    static let fileExtension = "a2xc"
    /// Temporary files of interrupted writes older than this are removed on eviction.
    static let staleTemporaryAge: TimeInterval = 3600

    /// The cache root (`$XDG_CACHE_HOME/agg2exp` by default).
    public let directory: URL
    public let capacityBytes: Int64

    public var entriesDirectory: URL { directory.appendingPathComponent("attributions", isDirectory: true) }

    public init(directory: URL, capacityBytes: Int64) {
        self.directory = directory
        self.capacityBytes = capacityBytes
    }

    /// `$XDG_CACHE_HOME/agg2exp` when XDG_CACHE_HOME is an absolute path (the XDG base-directory
    /// rule), else `$HOME/.cache/agg2exp`; nil without either.
    public static func defaultDirectory(environment: [String: String]) -> URL? {
        if let xdg = environment["XDG_CACHE_HOME"], xdg.hasPrefix("/") {
            return URL(fileURLWithPath: xdg, isDirectory: true).appendingPathComponent("agg2exp", isDirectory: true)
        }
        guard let home = environment["HOME"], home.hasPrefix("/") else { return nil }
        return URL(fileURLWithPath: home, isDirectory: true).appendingPathComponent(".cache/agg2exp", isDirectory: true)
    }

    /// The cache the environment asks for: the default directory with the cap from `megabytes`
    /// (a command-line value) or `AGG2EXP_CACHE_MB`, else the default cap. nil when the cap is 0
    /// or there is no home directory. Throws a one-line message for a malformed cap.
    public static func standard(environment: [String: String], megabytes: Int? = nil) throws(DomainError) -> AttributionCache? {
        var mib = defaultCapacityMiB
        if let megabytes {
            guard megabytes >= 0 else { throw DomainError("--cache-mb must be 0 or more, not \(megabytes)") }
            mib = megabytes
        } else if let text = environment[capacityVariable], !text.isEmpty {
            guard let value = Int(text), value >= 0, value <= 1 << 30 else {
                throw DomainError("\(capacityVariable) must be a whole number of MiB (0 turns the cache off), not \"\(text)\"")
            }
            mib = value
        }
        guard mib > 0, let dir = defaultDirectory(environment: environment) else { return nil }
        return AttributionCache(directory: dir, capacityBytes: Int64(mib) << 20)
    }

    /// A stable key for everything a map depends on: the SHA-256 of the parts, each on its own line.
    public static func key(_ parts: [String]) -> String {
        SHA256.hex(parts.map { $0.replacingOccurrences(of: "\n", with: " ") }.joined(separator: "\n"))
    }

    /// A map read back from the cache.
    public struct Entry: Sendable {
        public var dims: [Int]
        public var voxels: [Float]
        /// The provenance details stored with the map.
        public var details: [(String, String)]
    }

    public enum Lookup: Sendable {
        case hit(Entry)
        case miss
        /// The entry existed but failed its checks (the reason); it has been removed.
        case corrupt(String)
    }

    func entryURL(_ key: String) -> URL {
        entriesDirectory.appendingPathComponent("\(key).\(Self.fileExtension)")
    }

    /// Reads the entry for `key`, checking its checksum, key and dims; a hit becomes the most
    /// recently used entry.
    public func lookup(_ key: String, dims: [Int]) -> Lookup {
        let url = entryURL(key)
        guard let data = FileManager.default.contents(atPath: url.path) else { return .miss }
        switch Self.decode(data, key: key, dims: dims) {
        case .success(let entry):
            try? FileManager.default.setAttributes([.modificationDate: Date()], ofItemAtPath: url.path)
            return .hit(entry)
        case .failure(let problem):
            try? FileManager.default.removeItem(at: url)
            return .corrupt(problem.message)
        }
    }

    /// Writes the entry for `key` atomically, then evicts least recently used entries until the
    /// cache fits its cap. A map larger than the whole cap is not stored.
    public func store(_ key: String, dims: [Int], voxels: [Float], details: [(String, String)]) throws(FileWriteError) {
        let data = Self.encode(key: key, dims: dims, voxels: voxels, details: details)
        guard Int64(data.count) <= capacityBytes else { return }
        do {
            try FileManager.default.createDirectory(at: entriesDirectory, withIntermediateDirectories: true)
        } catch {
            throw FileWriteError(path: entriesDirectory.path, problem: "cannot create the cache directory")
        }
        let url = entryURL(key)
        try AtomicFile.write(data, to: url.path)
        evict(keeping: url.lastPathComponent)
    }

    /// Cache entries with their sizes and modification times, oldest first.
    func entries() -> [(name: String, bytes: Int64, modified: Date)] {
        let fm = FileManager.default
        let names = (try? fm.contentsOfDirectory(atPath: entriesDirectory.path)) ?? []
        return names.filter { $0.hasSuffix(".\(Self.fileExtension)") }.compactMap { name in
            guard let attributes = try? fm.attributesOfItem(atPath: entriesDirectory.appendingPathComponent(name).path),
                  let size = attributes[.size] as? NSNumber, let modified = attributes[.modificationDate] as? Date
            else { return nil }
            return (name, size.int64Value, modified)
        }.sorted { $0.modified != $1.modified ? $0.modified < $1.modified : $0.name < $1.name }
    }

    private func evict(keeping kept: String) {
        let fm = FileManager.default
        var all = entries()
        var total = all.reduce(Int64(0)) { $0 + $1.bytes }
        while total > capacityBytes, let i = all.firstIndex(where: { $0.name != kept }) {
            try? fm.removeItem(at: entriesDirectory.appendingPathComponent(all[i].name))
            total -= all[i].bytes
            all.remove(at: i)
        }
        // Temporaries left by a killed writer (AtomicFile names them .<name>.<pid>-<n>.tmp).
        let names = (try? fm.contentsOfDirectory(atPath: entriesDirectory.path)) ?? []
        for name in names where name.hasPrefix(".") && name.hasSuffix(".tmp") {
            let path = entriesDirectory.appendingPathComponent(name).path
            if let modified = (try? fm.attributesOfItem(atPath: path))?[.modificationDate] as? Date,
               Date().timeIntervalSince(modified) > Self.staleTemporaryAge {
                try? fm.removeItem(atPath: path)
            }
        }
    }

    // MARK: File format

    /// magic "A2XCACHE" · UInt32 LE version · UInt32 LE header length · header JSON
    /// {"key", "dims", "details"} · float32 LE voxels · UInt32 LE CRC-32 of all preceding bytes.
    static func encode(key: String, dims: [Int], voxels: [Float], details: [(String, String)]) -> Data {
        let header: [String: Any] = ["key": key, "dims": dims, "details": details.map { [$0.0, $0.1] }]
        let json = (try? JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])) ?? Data()
        var data = Data(magic)
        data.reserveCapacity(magic.count + 8 + json.count + 4 * voxels.count + 4)
        withUnsafeBytes(of: formatVersion.littleEndian) { data.append(contentsOf: $0) }
        withUnsafeBytes(of: UInt32(json.count).littleEndian) { data.append(contentsOf: $0) }
        data.append(json)
        voxels.withUnsafeBytes { data.append(contentsOf: $0) }
        let crc = data.withUnsafeBytes { cnifti_crc32(0, $0.baseAddress, $0.count) }
        withUnsafeBytes(of: crc.littleEndian) { data.append(contentsOf: $0) }
        return data
    }

    static func decode(_ data: Data, key: String, dims: [Int]) -> Result<Entry, DomainError> {
        let prefix = magic.count + 8
        let trailer = 4
        guard data.count >= prefix + trailer else { return .failure(DomainError("the entry is truncated")) }
        guard Array(data.prefix(magic.count)) == magic else { return .failure(DomainError("not a cache entry")) }
        let (computed, stored) = data.withUnsafeBytes { raw in
            (cnifti_crc32(0, raw.baseAddress, raw.count - trailer),
             UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: raw.count - trailer, as: UInt32.self)))
        }
        guard computed == stored else {
            return .failure(DomainError("checksum mismatch (the entry is damaged or partial)"))
        }
        let (version, headerLength) = data.withUnsafeBytes { raw in
            (UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: magic.count, as: UInt32.self)),
             Int(UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: magic.count + 4, as: UInt32.self))))
        }
        guard version == formatVersion else { return .failure(DomainError("format version \(version) is not \(formatVersion)")) }
        guard headerLength <= data.count - prefix - trailer,
              let header = try? JSONSerialization.jsonObject(with: data.subdata(in: prefix..<(prefix + headerLength)))
                as? [String: Any],
              let storedKey = header["key"] as? String, let storedDims = header["dims"] as? [Int],
              let rawDetails = header["details"] as? [[String]] else {
            return .failure(DomainError("the header is malformed"))
        }
        guard storedKey == key else { return .failure(DomainError("the entry belongs to another key")) }
        guard storedDims == dims else { return .failure(DomainError("dims \(storedDims) are not \(dims)")) }
        let count = dims.reduce(1, *)
        let start = prefix + headerLength
        guard data.count - trailer - start == 4 * count else {
            return .failure(DomainError("holds \((data.count - trailer - start) / 4) voxels, not \(count)"))
        }
        var voxels = [Float](repeating: 0, count: count)
        voxels.withUnsafeMutableBytes { out in
            data.withUnsafeBytes { raw in out.copyMemory(from: UnsafeRawBufferPointer(rebasing: raw[start..<(start + 4 * count)])) }
        }
        let details = rawDetails.compactMap { $0.count == 2 ? ($0[0], $0[1]) : nil }
        return .success(Entry(dims: dims, voxels: voxels, details: details))
    }
}
