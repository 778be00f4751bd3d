import ArgumentParser
import Engine
import Foundation

/// `--max-memory` and `--yes`, for every command that runs the network.
struct ResourceOptions: ParsableArguments {
    @Option(help: "Memory the job may use, e.g. 8G (default: the smaller of MemAvailable and the cgroup limit).")
    var maxMemory: String?

    @Flag(help: "Run even when the estimated time exceeds a day.")
    var yes = false

    func budget() throws -> MemoryBudget {
        guard let maxMemory else { return MemoryBudget.current() }
        do {
            return MemoryBudget.current(override: try MemoryBudget.parse(maxMemory))
        } catch {
            throw ValidationError(error.message)
        }
    }
}

/// Largest count accepted for steps, samples, runs and subset sizes; the memory and time checks
/// refuse far smaller counts on real inputs, this bound only keeps the arithmetic exact.
let maxCount = 1 << 40

/// Checks made before a scan is read in full: the file, the grid it lands on in the model, and the
/// estimated memory and time of the job.
enum Preflight {
    /// Reads only the header of `scan` and returns the estimate of segmenting it with `model`,
    /// for `extend` to add the attribution work to (arguments: model-grid voxels and windows).
    static func check(scan: String, model: SegmentationModel, resources: ResourceOptions,
                      extend: (inout JobEstimate, _ modelVoxels: Int, _ windows: Int) -> Void = { _, _, _ in }) throws {
        let header = try NIfTI.readHeader(scan)
        let config = model.preprocessing
        let grid: Grid
        do {
            grid = try GeometryDomain.modelGrid(of: header.grid, orientation: config.orientation,
                                                spacing: config.spacing, source: scan)
        } catch {
            throw DataError(error.message)
        }
        let windows = model.plan(imageSize: grid.dims).starts.count
        let roiVoxels = model.roiSize.reduce(1, *)
        var estimate = JobEstimate()
        estimate.addPrediction(scanVoxels: header.grid.voxelCount, modelVoxels: grid.voxelCount,
                               classes: model.classCount, roiVoxels: roiVoxels, windows: windows)
        extend(&estimate, grid.voxelCount, windows)
        let budget = try resources.budget()
        do {
            try estimate.check(budget: budget, roiVoxels: roiVoxels, confirmed: resources.yes)
        } catch {
            throw DataError("\(scan): \(error.message)")
        }
    }

    /// Throws a usage error unless `path` can be written (directory exists and is writable, not
    /// one of `inputs`); called before any computation.
    static func output(_ path: String?, inputs: [String], extensions: [String] = []) throws {
        guard let path else { return }
        if !extensions.isEmpty, !extensions.contains(where: { path.hasSuffix($0) }) {
            throw ValidationError("\(path): the output name must end in \(extensions.joined(separator: " or "))")
        }
        do {
            try FileChecks.requireWritableOutput(path, inputs: inputs)
        } catch {
            throw ValidationError(error.description)
        }
    }
}

/// Class names or indices from a comma-separated list; naming one class twice is a usage error.
func resolveTargets(_ list: String, classes: [String], option: String) throws -> [Int] {
    var seen: [Int: String] = [:]
    var out: [Int] = []
    for item in list.split(separator: ",").map(String.init) {
        let c = try resolveClass(item, classes: classes)
        if let first = seen[c] {
            throw ValidationError("\(option) names class \(classes[c]) twice (\"\(first)\" and \"\(item)\")")
        }
        seen[c] = item
        out.append(c)
    }
    guard !out.isEmpty else { throw ValidationError("\(option) is empty") }
    return out
}

/// Writes UTF-8 text through the atomic-write helper.
func writeText(_ text: String, to path: String) throws {
    try AtomicFile.write(Data(text.utf8), to: path)
}
