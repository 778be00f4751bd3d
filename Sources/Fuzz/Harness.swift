import Engine
import Foundation

/// One reader of untrusted input, driven by arbitrary bytes. Every harness must end in a value or
/// a thrown error; a trap, a hang or an allocation beyond the fuzzer's limit is a bug.
enum Harness: String, CaseIterable {
    /// A NIfTI-1/2 file, gzip-compressed when the bytes start with the gzip magic.
    case nifti
    /// A safetensors file (header length, JSON header, data).
    case safetensors
    /// model.json.
    case modelJSON = "model-json"
    /// A results CSV.
    case resultsCSV = "results-csv"
    /// A label table (ITK-SNAP, 3D Slicer or JSON).
    case labelTable = "label-table"
    /// A torch.save checkpoint: a whole zip when the bytes start with "PK", else a pickle that is
    /// packed as the archive's data.pkl (with valid CRCs) so mutations reach the unpickler.
    case pth

    /// Readers take paths: the bytes go to one scratch file per process, in memory-backed /dev/shm
    /// when it exists.
    static let scratch: String = {
        let dir = FileManager.default.fileExists(atPath: "/dev/shm") ? "/dev/shm" : NSTemporaryDirectory()
        return "\(dir)/agg2exp-fuzz-\(getpid())"
    }()

    func run(_ data: Data) {
        switch self {
        case .nifti:
            let gz = data.starts(with: [0x1F, 0x8B])
            let path = Self.scratch + (gz ? ".nii.gz" : ".nii")
            write(data, to: path)
            _ = try? NIfTI.readVolumeWithReport(path)
            _ = try? NIfTI.readLabelMap(path)
        case .safetensors:
            let path = Self.scratch + ".safetensors"
            write(data, to: path)
            if let file = try? SafetensorsFile(path: path) {
                for name in file.entries.keys.sorted() {
                    _ = try? file.floats(name)
                    _ = try? file.integers(name)
                }
            }
        case .modelJSON:
            let path = Self.scratch + ".json"
            write(data, to: path)
            _ = try? ModelDescription(path: path)
        case .resultsCSV:
            if let table = try? ResultsTable.parse(String(decoding: data, as: UTF8.self), source: "fuzz.csv") {
                _ = try? GlobalStatistics.rankings(target: nil, in: table, includeBackground: true, source: "fuzz.csv")
                _ = try? ResultsTable.merge([table, table], sources: ["a", "b"])
            }
        case .labelTable:
            _ = try? LabelTable.parse(String(decoding: data, as: UTF8.self), path: "fuzz.txt")
            _ = try? LabelGroups.parse(data, path: "fuzz.json")
        case .pth:
            let path = Self.scratch + ".pth"
            write(data.starts(with: [0x50, 0x4B]) ? data : StoredZip.checkpoint(pickle: data), to: path)
            if let file = try? PyTorchCheckpoint(path: path) {
                for name in file.entries.keys.sorted() {
                    _ = try? file.floats(name)
                    _ = try? file.integers(name)
                }
            }
        }
    }

    private func write(_ data: Data, to path: String) {
        unlink(path)
        _ = FileManager.default.createFile(atPath: path, contents: data)
    }

    /// The harness named by $AGG2EXP_FUZZ_HARNESS, read once.
    static let selected: Harness = {
        let name = ProcessInfo.processInfo.environment["AGG2EXP_FUZZ_HARNESS"] ?? ""
        guard let h = Harness(rawValue: name) else {
            FileHandle.standardError.write(Data(("set AGG2EXP_FUZZ_HARNESS to one of "
                + allCases.map(\.rawValue).joined(separator: ", ") + "\n").utf8))
            exit(64)
        }
        return h
    }()
}

/// The smallest zip torch.save would write around a pickle: `archive/data.pkl` plus storages
/// `archive/data/0` … `7` of 64 bytes each (for the persistent ids a mutated pickle names), all
/// stored uncompressed with their CRC-32.
enum StoredZip {
    static func checkpoint(pickle: Data) -> Data {
        let storage = Data((0..<64).map { UInt8($0) })
        return archive([("archive/data.pkl", pickle)] + (0..<8).map { ("archive/data/\($0)", storage) })
    }

    static func archive(_ members: [(name: String, data: Data)]) -> Data {
        var out = Data(), central = Data()
        func u16(_ v: Int, _ d: inout Data) { d.append(contentsOf: [UInt8(v & 0xFF), UInt8((v >> 8) & 0xFF)]) }
        func u32(_ v: UInt32, _ d: inout Data) { for k in 0..<4 { d.append(UInt8((v >> (8 * UInt32(k))) & 0xFF)) } }
        for (name, data) in members {
            let offset = UInt32(out.count), crc = crc32(data), size = UInt32(data.count)
            let nameBytes = Data(name.utf8)
            u32(0x0403_4B50, &out); u16(20, &out); u16(0, &out); u16(0, &out); u16(0, &out); u16(0, &out)
            u32(crc, &out); u32(size, &out); u32(size, &out); u16(nameBytes.count, &out); u16(0, &out)
            out.append(nameBytes); out.append(data)
            u32(0x0201_4B50, &central); u16(20, &central); u16(20, &central); u16(0, &central); u16(0, &central)
            u16(0, &central); u16(0, &central); u32(crc, &central); u32(size, &central); u32(size, &central)
            u16(nameBytes.count, &central); u16(0, &central); u16(0, &central); u16(0, &central); u16(0, &central)
            u32(0, &central); u32(offset, &central); central.append(nameBytes)
        }
        let centralOffset = UInt32(out.count)
        out.append(central)
        u32(0x0605_4B50, &out); u16(0, &out); u16(0, &out); u16(members.count, &out); u16(members.count, &out)
        u32(UInt32(central.count), &out); u32(centralOffset, &out); u16(0, &out)
        return out
    }

    /// CRC-32 (IEEE, reflected), bit by bit: inputs are at most 64 KB.
    static func crc32(_ data: Data) -> UInt32 {
        var c: UInt32 = 0xFFFF_FFFF
        for byte in data {
            c ^= UInt32(byte)
            for _ in 0..<8 { c = (c >> 1) ^ (0xEDB8_8320 & (0 &- (c & 1))) }
        }
        return ~c
    }
}
