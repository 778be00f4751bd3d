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
