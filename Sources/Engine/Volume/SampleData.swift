import Foundation

/// Locates the bundled sample CT, its segmentation, label names and sample model.
public enum SampleData {
    public static let scanFile = "example_ct.nii.gz"
    public static let labelsFile = "example_seg_fast_force_split.nii.gz"
    public static let labelNamesFile = "label_names.txt"

    /// The SampleData folder: `$AGG2EXP_SAMPLE_DATA`, else `./SampleData`, else a SampleData folder
    /// beside the executable or any of its parent directories, else the one in the source checkout
    /// this file was compiled from. Nil when none holds the sample scan.
    public static var directory: String? {
        candidates().first { FileManager.default.fileExists(atPath: $0 + "/" + scanFile) }
    }

    public static var scanPath: String? { directory.map { $0 + "/" + scanFile } }
    public static var labelsPath: String? { directory.map { $0 + "/" + labelsFile } }
    public static var labelNamesPath: String? { directory.map { $0 + "/" + labelNamesFile } }
    public static var modelDirectory: String? { directory.map { $0 + "/model" } }

    static func candidates(filePath: String = #filePath) -> [String] {
        var out: [String] = []
        if let env = ProcessInfo.processInfo.environment["AGG2EXP_SAMPLE_DATA"], !env.isEmpty { out.append(env) }
        out.append(FileManager.default.currentDirectoryPath + "/SampleData")
        if let exe = CommandLine.arguments.first {
            var url = URL(fileURLWithPath: exe).resolvingSymlinksInPath().deletingLastPathComponent()
            while url.path != "/" {
                out.append(url.appendingPathComponent("SampleData").path)
                url.deleteLastPathComponent()
            }
        }
        // Sources/Engine/Volume/SampleData.swift → repository root.
        let root = URL(fileURLWithPath: filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent()
        out.append(root.appendingPathComponent("SampleData").path)
        return out
    }
}
