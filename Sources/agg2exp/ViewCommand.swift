import ArgumentParser
import Engine
import Explorer
import Foundation
import Terminal

/// Options shared by `view` and `report`: the scan, its labels and their names, and the model.
struct ScanOptions: ParsableArguments {
    @Argument(help: "CT scan (NIfTI). Default: the bundled sample CT.")
    var scan: String?

    @Option(name: .long, help: "Label map (NIfTI) to show instead of the model's prediction.")
    var labels: String?

    @Option(name: .customLong("label-names"), help: "Label names (ITK-SNAP, 3D Slicer or JSON table).")
    var labelNames: String?

    @Option(name: .long, help: ArgumentHelp("Model directory (model.json + model.safetensors) or nnU-Net v2 results "
        + "folder; repeat it to list the parts of a multi-part nnU-Net model. Default with the sample CT: the sample "
        + "model."))
    var model: [String] = []

    @OptionGroup var windowTarget: WindowTargetOption

    @OptionGroup var nnunet: NNUNetOptions

    @Option(name: .customLong("cache-mb"),
            help: "Size cap of the attribution cache in MiB (0: no cache). Default: $AGG2EXP_CACHE_MB, else 1024.")
    var cacheMB: Int?

    /// What the explorer and the report work on.
    struct Loaded {
        var scene: Scene
        var provider: (any AnalysisProvider)?
        /// The scan's own grid, before it was moved onto the model grid.
        var scanGrid: Grid
        var preprocessing: PreprocessingConfig?
        /// Label → model class for a label map from a file, from the model's label_groups.json.
        var labelClasses: [Int32: Int] = [:]
        /// Where `--attributions` maps may lie and how a scan-grid map reaches the model grid.
        var importGrids: AttributionImport.Grids?
    }

    /// Whether `path` is the bundled sample CT (compared after resolving symbolic links).
    static func isSampleScan(_ path: String) -> Bool {
        guard let sample = SampleData.scanPath else { return false }
        let resolve = { (p: String) in URL(fileURLWithPath: p).standardizedFileURL.resolvingSymlinksInPath().path }
        return resolve(path) == resolve(sample)
    }

    /// Reads `label_to_class` from a model directory's label_groups.json, when there is one.
    static func labelClasses(modelDirectory: String) throws -> [Int32: Int] {
        let path = modelDirectory + "/label_groups.json"
        guard let data = FileManager.default.contents(atPath: path) else { return [:] }
        guard let root = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              let map = root["label_to_class"] as? [String: Any] else {
            throw DataError("\(path): expected an object with \"label_to_class\": {\"<label>\": <class>}")
        }
        var out: [Int32: Int] = [:]
        for (key, value) in map {
            guard let label = Int32(key), let c = value as? Int else {
                throw DataError("\(path): label_to_class entry '\(key)' is not \"<label>\": <class index>")
            }
            out[label] = c
        }
        return out
    }

    /// Loads the scan, labels and model. Without a scan argument the bundled sample is used with
    /// the bundled model (or, when that is missing, the bundled segmentation). With a model,
    /// everything is moved onto the model grid, where prediction and attributions live (for
    /// nnU-Net folders the network grid, see `loadNNUNet`).
    func load() throws -> Loaded {
        // Naming the bundled sample CT explicitly is the same as naming nothing: it keeps the
        // sample model (and, without it, the sample labels).
        let usingSample = scan == nil || scan.map(Self.isSampleScan) == true
        guard let scanPath = scan ?? SampleData.scanPath else {
            throw DataError("no scan given and the bundled sample CT was not found "
                                  + "(set AGG2EXP_SAMPLE_DATA to the SampleData directory)")
        }
        var modelDirectory = model.first
        if modelDirectory == nil && usingSample, let dir = SampleData.modelDirectory,
           FileManager.default.fileExists(atPath: dir + "/" + ModelDirectory.descriptionFile) {
            modelDirectory = dir
        }
        // Models load first, so the file digests of the cache keys run while the scan is decoded.
        var loadedModel: LoadedModel?
        if let modelDirectory {
            loadedModel = try LoadedModel.load(model.isEmpty ? [modelDirectory] : model, nnunet: nnunet,
                                               windowTarget: windowTarget.windowTarget)
        } else {
            try nnunet.rejectWithoutNNUNet()
            if windowTarget.windowTarget != nil { throw ValidationError("--window-target needs a model (--model DIR)") }
        }
        var segmentationModel: SegmentationModel?
        if case .monai(let m) = loadedModel { segmentationModel = m }
        let sourceDigest = segmentationModel.map { segmentation in
            BackgroundResult {
                // The scan file's bytes, then the model's files (and the window target when it is
                // not the default).
                var hasher = SHA256()
                try hasher.update(fileAt: scanPath)
                return hasher.finalizeHex() + " " + (try segmentation.contentDigest())
                    + (segmentation.windowTarget == .perWindow ? "" : " window-target \(segmentation.windowTarget.rawValue)")
            }
        }
        var ct = try NIfTI.readVolume(scanPath)
        let scanGrid = ct.grid
        if case .nnunet(let parts, let totalSegmentator) = loadedModel {
            return try loadNNUNet(parts, totalSegmentator: totalSegmentator, scanPath: scanPath, scan: ct)
        }
        var labelPath = labels
        if labelPath == nil && usingSample && modelDirectory == nil { labelPath = SampleData.labelsPath }

        var provider: ModelAnalysisProvider?
        var preprocessing: PreprocessingConfig?
        var classNames: [String] = []
        if let modelDirectory, let segmentation = segmentationModel, let sourceDigest {
            try Preflight.check(scan: scanPath, model: segmentation, resources: try ResourceOptions.parse([]))
            let input = segmentation.preprocess(ct)
            preprocessing = segmentation.preprocessing
            // The CT in HU on the model grid: the same reorientation and resampling, no window.
            let oriented = ct.reoriented(to: segmentation.preprocessing.orientation)
            ct = oriented.grid.matches(input.grid) ? oriented
                : oriented.resampled(toSpacing: segmentation.preprocessing.spacing)
            classNames = segmentation.classes
            let cache: AttributionCache?
            do {
                cache = try AttributionCache.standard(environment: ProcessInfo.processInfo.environment, megabytes: cacheMB)
            } catch {
                throw ValidationError(error.message)
            }
            provider = ModelAnalysisProvider(model: segmentation, classNames: classNames,
                                             description: "\(modelDirectory) (\(classNames.count) classes)",
                                             preprocessed: input, cache: cache,
                                             sourceDigest: { try sourceDigest.value() })
        }
        var map: LabelMap?
        if let labelPath {
            var m = try NIfTI.readLabelMap(labelPath)
            if let preprocessing {
                do {
                    // The same grid-size limit as the scan's, before the nearest-neighbour resampling.
                    _ = try GeometryDomain.modelGrid(of: m.grid, orientation: preprocessing.orientation,
                                                     spacing: preprocessing.spacing, source: labelPath)
                } catch {
                    throw DataError(error.message)
                }
                m = m.reoriented(to: preprocessing.orientation)
                if !m.grid.matches(ct.grid) { m = m.resampled(toSpacing: preprocessing.spacing) }
            }
            guard m.grid.matches(ct.grid) else {
                throw DataError("\(labelPath): label map grid \(m.grid.dims) does not match the scan grid "
                                      + "\(ct.grid.dims) of \(scanPath) (same dims and affine needed)")
            }
            map = m
        }
        var namesPath = labelNames
        if namesPath == nil && usingSample && labelPath != nil, let p = SampleData.labelNamesPath,
           FileManager.default.fileExists(atPath: p) { namesPath = p }
        var names: [Int32: String] = [0: "background"]
        var colors: [Int32: RGB] = [:]
        if map == nil {
            // The prediction is shown: its labels are the model classes.
            for (i, name) in classNames.enumerated() { names[Int32(i)] = name }
        }
        if let namesPath {
            let table = try LabelTable.load(namesPath)
            names.merge(table.names) { _, new in new }
            colors = table.colors
        }
        let scene = Scene(scanPath: scanPath, ct: ct, labels: map, labelSource: labelPath.map { "file \($0)" } ?? "",
                          labelNames: names, labelColors: colors)
        let classes = map != nil ? try modelDirectory.map(Self.labelClasses) ?? [:] : [:]
        let grids = preprocessing.map {
            AttributionImport.Grids(model: ct.grid, scan: scanGrid, orientation: $0.orientation, spacing: $0.spacing)
        }
        return Loaded(scene: scene, provider: provider, scanGrid: scanGrid, preprocessing: preprocessing,
                      labelClasses: classes, importGrids: grids)
    }
}

/// Where theme files are looked up: $AGG2EXP_THEMES, ./Themes, then Themes/ beside the executable
/// or any of its parent directories (a checkout's .build/release/agg2exp finds the repo's Themes).
func themeSearchPaths() -> [URL] {
    var out: [URL] = []
    if let env = ProcessInfo.processInfo.environment["AGG2EXP_THEMES"], !env.isEmpty {
        out.append(URL(fileURLWithPath: env))
    }
    out.append(URL(fileURLWithPath: FileManager.default.currentDirectoryPath).appendingPathComponent("Themes"))
    var dir = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
    while dir.path != "/" {
        out.append(dir.appendingPathComponent("Themes"))
        dir.deleteLastPathComponent()
    }
    return out.filter { FileManager.default.fileExists(atPath: $0.path) }
}

/// Loads all available themes with `name` first.
func loadThemes(first name: String) throws -> [Theme] {
    let paths = themeSearchPaths()
    let chosen = try Theme.load(named: name, searchPaths: paths)
    let others = try Theme.available(in: paths).filter { $0 != name }.map { try Theme.load(named: $0, searchPaths: paths) }
    return [chosen] + others
}

struct ViewCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "view",
        abstract: "Open the terminal explorer (the default command).",
        discussion: """
            With no arguments it opens the bundled sample CT. Press ? inside for the keys.

            --model may be an nnU-Net v2 results folder, or the parts of a multi-part model (repeat \
            --model), with the nnU-Net options of `explain`. The planes then show nnU-Net's network \
            grid: the scan permuted by transpose_forward, cropped to its non-zero box and resampled to \
            the plans' spacing (with --pipeline totalsegmentator first reoriented to RAS and zoomed), \
            the CT in HU as the network saw it before normalisation. The probe's ijk are that grid's \
            voxels; its RAS mm are where nnU-Net sampled each voxel from the scan. The prediction is \
            nnU-Net's label map there (merged over the parts), and every method explains a target \
            through the part that predicts it, with the stitched window target by default, as \
            `explain --grid model` does.
            """)

    @OptionGroup var input: ScanOptions

    @Option(name: .long, help: "Theme name (a file NAME.theme in Themes/).")
    var theme: String = "default"

    @Option(name: .customLong("global"), help: "Results CSV (official wide format) for global box plots.")
    var globalCSV: String?

    @Option(name: .customLong("attributions"), parsing: .upToNextOption,
            help: "Attribution maps made elsewhere: NIfTI files named METHOD__TARGET.nii[.gz], directories of them, or a JSON index (attributions.json); on the scan's or the model's grid.")
    var attributions: [String] = []

    @Option(name: .customLong("confirm-above"),
            help: "Methods estimated to take longer than this many seconds start only after y.")
    var confirmAbove: Double = 60

    func run() throws {
        guard confirmAbove.isFinite, confirmAbove >= 0 else {
            throw ValidationError("--confirm-above must be a number of seconds ≥ 0, not \(confirmAbove)")
        }
        let themes = try loadThemes(first: theme)
        let loaded = try input.load()
        var explorer = makeExplorer(loaded, themes: themes)
        explorer.state.compute.confirmAbove = confirmAbove
        // The options panel's command line names the model as it was given (none: the sample model).
        explorer.state.compute.modelArguments = input.modelArguments
        if let globalCSV {
            explorer.global = try GlobalResults.load(path: globalCSV)
            explorer.state.showGlobal = true
        }
        let controller = loaded.provider.map(AnalysisController.init)
        if !attributions.isEmpty {
            guard let controller, let grids = loaded.importGrids else {
                throw ValidationError("--attributions needs a model (--model DIR) to name the targets of its maps")
            }
            let maps: [ImportedMap]
            do {
                maps = try AttributionImport.load(attributions, classNames: explorer.classNames, grids: grids)
            } catch {
                throw DataError(error.message)
            }
            for map in maps {
                controller.preload(AnalysisKey(method: map.method, target: map.target), map.display)
                if !explorer.methods.contains(map.method) { explorer.methods.append(map.method) }
            }
            // Open on the first imported map.
            if let first = maps.first {
                explorer.state.methodIndex = explorer.methods.firstIndex(of: first.method) ?? 0
                explorer.state.target = first.target
                explorer.state.message = StatusMessage(maps.count == 1 ? first.display.notice ?? ""
                    : "Opened \(maps.count) maps (\(first.method) → \(first.targetName) first; m and n browse them)")
            }
        }
        let session = ExplorerSession(explorer: explorer, controller: controller)
        try TerminalApp.run(session: session, environment: ProcessInfo.processInfo.environment)
        // A job cancelled on quit may still be inside its current window (seconds of BLAS work);
        // the terminal is restored, so leave without running exit handlers under its feet.
        if session.controller?.runningJob != nil { _exit(0) }
    }
}

/// An explorer over what `ScanOptions.load` produced (size is set by the terminal or the report).
func makeExplorer(_ loaded: ScanOptions.Loaded, themes: [Theme]) -> Explorer {
    var explorer = Explorer(scene: loaded.scene, width: 80, height: 24, themes: themes,
                            methods: loaded.provider?.methods ?? [], classNames: loaded.provider?.classNames ?? [],
                            modelDescription: loaded.provider?.modelDescription ?? "")
    explorer.labelClasses = loaded.labelClasses
    return explorer
}
