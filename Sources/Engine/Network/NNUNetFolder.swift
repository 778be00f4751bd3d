import Foundation

/// An nnU-Net v2 results folder (`<Dataset>/<Trainer>__<Plans>__<configuration>/`), recognised
/// by `plans.json` + `dataset.json`, with weights in `fold_N/checkpoint_final.pth` (or
/// `checkpoint_best.pth`).
///
/// plans.json comes in two formats: current plans describe the network under
/// `configurations[c].architecture` (`network_class_name`, `arch_kwargs`); early nnU-Net v2
/// plans give `UNet_class_name`, `UNet_base_num_features`, `unet_max_num_features`,
/// `n_conv_per_stage_encoder/decoder`, `pool_op_kernel_sizes` and `conv_kernel_sizes`, which are
/// converted the way nnU-Net converted them. A configuration may name `inherits_from`: the
/// parent's entries, updated by the child's.
public struct NNUNetFolder: Sendable {
    public enum Checkpoint: String, Sendable, CaseIterable {
        case final, best
        var fileName: String { "checkpoint_\(rawValue).pth" }
    }

    public static let plansFile = "plans.json"
    public static let datasetFile = "dataset.json"

    public let path: String
    public let datasetName: String
    public let configurationName: String
    /// Class names by label value (index 0 = background).
    public let classes: [String]
    public let architecture: any NetworkArchitecture
    public let patchSize: [Int]
    /// Target spacing of the configuration, in the (transposed) nnU-Net axis order.
    public let spacing: [Double]
    public let transposeForward: [Int]
    public let transposeBackward: [Int]
    public let normalizationSchemes: [String]
    /// `foreground_intensity_properties_per_channel["0"]` (CTNormalization's statistics), when given.
    public let intensityProperties: [String: Double]
    /// The folds present on disk (`0`, `1`, …, `all`), in order.
    public let availableFolds: [String]
    /// How a scan whose spacing differs from `spacing` is resampled: the network input
    /// (`resampling_fn_data_kwargs`) and the logits on the way back
    /// (`resampling_fn_probabilities_kwargs`); the failure, naming plans.json, when the
    /// configuration asks for something else. Only scans that need resampling throw it.
    public let resampling: Result<NNUNetResamplingPlan, ModelError>

    /// True when `directory` holds plans.json and dataset.json.
    public static func isFolder(_ directory: String) -> Bool {
        let fm = FileManager.default
        return fm.fileExists(atPath: (directory as NSString).appendingPathComponent(plansFile))
            && fm.fileExists(atPath: (directory as NSString).appendingPathComponent(datasetFile))
    }

    /// Reads plans.json and dataset.json. `configuration` defaults to the folder name's last
    /// `__` part (`nnUNetTrainer__nnUNetPlans__3d_fullres` → `3d_fullres`).
    public init(path: String, configuration: String? = nil) throws(ModelError) {
        self.path = path
        let plansPath = (path as NSString).appendingPathComponent(Self.plansFile)
        let datasetPath = (path as NSString).appendingPathComponent(Self.datasetFile)
        let plans = try Self.readObject(plansPath)
        let dataset = try Self.readObject(datasetPath)
        func plansFail(_ p: String) -> ModelError { ModelError(path: plansPath, problem: p) }
        func datasetFail(_ p: String) -> ModelError { ModelError(path: datasetPath, problem: p) }

        // Classes.
        guard let labels = dataset["labels"]?.object, !labels.isEmpty else {
            throw datasetFail("missing \"labels\" object")
        }
        if dataset["regions_class_order"] != nil || labels.values.contains(where: { $0.array != nil }) {
            throw datasetFail("region-based labels (a label mapped to a list of values) are not supported; "
                + "only one value per label is")
        }
        var byValue: [Int: String] = [:]
        for (name, value) in labels {
            guard let v = value.int, v >= 0 else { throw datasetFail("label '\(name)' must map to a non-negative integer") }
            if let other = byValue[v] { throw datasetFail("labels '\(other)' and '\(name)' share the value \(v)") }
            byValue[v] = name
        }
        guard byValue.keys.sorted() == Array(0..<byValue.count) else {
            throw datasetFail("label values must be 0, 1, …, \(byValue.count - 1) without gaps (found \(byValue.keys.sorted()))")
        }
        classes = (0..<byValue.count).map { byValue[$0]! }
        let channels = dataset["channel_names"]?.object?.count ?? dataset["modality"]?.object?.count ?? 1

        // Configuration, with inheritance.
        let folderName = (path as NSString).lastPathComponent
        let name = configuration ?? (folderName.contains("__") ? String(folderName.components(separatedBy: "__").last!) : "3d_fullres")
        guard let configurations = plans["configurations"]?.object else { throw plansFail("missing \"configurations\"") }
        var config: [String: JSONValue] = [:]
        var chain: [String] = []
        var current = name
        while true {
            guard let c = configurations[current]?.object else {
                let known = configurations.keys.sorted().joined(separator: ", ")
                throw plansFail(chain.isEmpty ? "no configuration '\(current)' (plans has: \(known))"
                    : "configuration '\(chain.last!)' inherits from '\(current)', which plans does not have")
            }
            chain.append(current)
            for (k, v) in c where config[k] == nil { config[k] = v }
            guard let parent = c["inherits_from"]?.string else { break }
            guard !chain.contains(parent) else { throw plansFail("configuration inheritance loops: \(chain + [parent])") }
            current = parent
        }
        configurationName = name
        datasetName = plans["dataset_name"]?.string ?? folderName

        // Network.
        let (className, arguments) = try Self.networkArguments(config, channels: channels, classes: classes.count,
                                                               fail: plansFail)
        guard let type = NNUNetArchitectures.named(className) else {
            throw plansFail("network_class_name '\(className)' is not supported (supported: "
                + NNUNetArchitectures.all.map { $0.name }.joined(separator: ", ") + ")")
        }
        do {
            architecture = try type.init(arguments: arguments, monaiVersion: nil)
        } catch {
            throw plansFail("configuration '\(name)' \(className) arguments: \(error.message)")
        }
        guard let patch = config["patch_size"]?.array?.compactMap(\.int), patch.count == 3 else {
            throw plansFail("configuration '\(name)' needs a 3-D patch_size")
        }
        if let problem = architecture.roiProblem(patch) { throw plansFail(problem) }
        patchSize = patch
        guard let sp = config["spacing"]?.array?.compactMap(\.number), sp.count == 3, sp.allSatisfy({ $0 > 0 }) else {
            throw plansFail("configuration '\(name)' needs three positive spacing values")
        }
        spacing = sp
        func permutation(_ key: String) throws(ModelError) -> [Int] {
            guard let v = plans[key] else { return [0, 1, 2] }
            guard let p = v.array?.compactMap(\.int), p.sorted() == [0, 1, 2] else {
                throw plansFail("\(key) must be a permutation of [0, 1, 2]")
            }
            return p
        }
        transposeForward = try permutation("transpose_forward")
        transposeBackward = try permutation("transpose_backward")
        normalizationSchemes = config["normalization_schemes"]?.array?.compactMap(\.string) ?? []
        var properties: [String: Double] = [:]
        for (k, v) in plans["foreground_intensity_properties_per_channel"]?.object?["0"]?.object ?? [:] {
            if let n = v.number { properties[k] = n }
        }
        intensityProperties = properties

        resampling = Result { () throws(ModelError) in
            NNUNetResamplingPlan(data: try Self.resampling(config, "data", configuration: name, fail: plansFail),
                                 probabilities: try Self.resampling(config, "probabilities", configuration: name,
                                                                    fail: plansFail))
        }

        let entries = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
        availableFolds = entries.filter { $0.hasPrefix("fold_") }.map { String($0.dropFirst(5)) }
            .sorted { (Int($0) ?? Int.max, $0) < (Int($1) ?? Int.max, $1) }
    }

    /// The network averaging the logits of `folds` (default: every fold present), as nnU-Net
    /// ensembles folds. Checks every checkpoint's tensors against the plans and dataset.json.
    public func loadNetwork(folds requested: [String]? = nil, checkpoint: Checkpoint = .final) throws
        -> any SegmentationNetwork {
        try load(folds: requested, checkpoint: checkpoint).network
    }

    /// nnU-Net's inference pipeline over the network of `folds`. With `mirror`, test-time
    /// mirroring runs over the checkpoint's `inference_allowed_mirroring_axes` (none for
    /// `*NoMirroring` trainers).
    public func pipeline(folds requested: [String]? = nil, checkpoint: Checkpoint = .final, tileStep: Double = 0.5,
                         mirror: Bool = false) throws -> NNUNetPipeline {
        let (network, axes, files) = try load(folds: requested, checkpoint: checkpoint)
        var pipeline = NNUNetPipeline(folder: self, network: network, tileStep: tileStep, mirrorAxes: mirror ? axes : [])
        pipeline.weightFiles = files
        return pipeline
    }

    private func load(folds requested: [String]?, checkpoint: Checkpoint) throws
        -> (network: any SegmentationNetwork, mirrorAxes: [Int], files: [String]) {
        let folds = requested ?? availableFolds
        guard !folds.isEmpty else {
            throw ModelError(path: path, problem: "no fold_N folder with weights")
        }
        if let missing = folds.first(where: { !availableFolds.contains($0) }) {
            throw ModelError(path: path, problem: "fold \(missing) is not present (present: "
                + (availableFolds.isEmpty ? "none" : availableFolds.joined(separator: ", ")) + ")")
        }
        var networks: [any SegmentationNetwork] = []
        var axes: [Int] = []
        var files: [String] = []
        for fold in folds {
            let file = ((path as NSString).appendingPathComponent("fold_\(fold)") as NSString)
                .appendingPathComponent(checkpoint.fileName)
            files.append(file)
            let (parameters, root) = try loadParameters(file)
            networks.append(architecture.build(parameters: parameters))
            // nnU-Net reads the allowed axes from the first fold's checkpoint only.
            if fold == folds.first, case .list(let values)? = root["inference_allowed_mirroring_axes"] {
                axes = values.compactMap { if case .int(let i) = $0 { return i } else { return nil } }
            }
        }
        let network = networks.count == 1 ? networks[0] : FoldEnsemble(folds: networks.map { $0 as! any TapedNetwork })
        return (network, axes, files)
    }

    /// The tensors of one checkpoint; alias keys (`.all_modules.`, `decoder.encoder.`) are skipped.
    func loadParameters(_ file: String) throws(ModelError) -> (parameters: [String: [Float]], root: CheckpointValue) {
        guard FileManager.default.fileExists(atPath: file) else {
            throw ModelError(path: file, problem: "checkpoint not found")
        }
        let checkpoint: PyTorchCheckpoint
        do {
            checkpoint = try PyTorchCheckpoint(path: file)
        } catch {
            throw ModelError(path: error.path, problem: error.problem)
        }
        let classifier = architecture.classifierWeightKey
        if let found = checkpoint.entries[classifier], let outputs = found.shape.first, outputs != classes.count {
            throw ModelError(path: file, problem: "the weights predict \(outputs) classes (\(classifier) \(found.shape)) "
                + "but dataset.json lists \(classes.count) labels")
        }
        let expected = architecture.parameterShapes
        let expectedKeys = Set(expected.map(\.key))
        var problems: [String] = []
        for (key, shape) in expected {
            guard let entry = checkpoint.entries[key] else {
                problems.append("missing \(key) (expected \(shape))")
                continue
            }
            if !entry.isFloatingPoint || entry.shape != shape {
                problems.append("\(key): expected a floating-point tensor of shape \(shape), found \(entry.dtype) \(entry.shape)")
            }
        }
        for key in checkpoint.floatingPointNames where !expectedKeys.contains(key) && !Self.isAlias(key) {
            problems.append("unexpected \(key) (found \(checkpoint.entries[key]!.shape))")
        }
        guard problems.isEmpty else {
            throw ModelError(path: file, problem: "the tensors do not match \(type(of: architecture).name) as plans.json "
                + "configures '\(configurationName)':\n  " + problems.joined(separator: "\n  "))
        }
        var parameters: [String: [Float]] = [:]
        for (key, _) in expected {
            do {
                parameters[key] = try checkpoint.floats(key)
            } catch {
                throw ModelError(path: error.path, problem: error.problem)
            }
        }
        return (parameters, checkpoint.root)
    }

    /// Keys sharing storage with canonical ones in every nnU-Net state_dict.
    static func isAlias(_ key: String) -> Bool {
        key.contains(".all_modules.") || key.hasPrefix("decoder.encoder.")
    }

    /// The network class name and its constructor arguments, from either plans format.
    static func networkArguments(_ c: [String: JSONValue], channels: Int, classes: Int,
                                 fail: (String) -> ModelError) throws(ModelError) -> (String, [String: JSONValue]) {
        if let arch = c["architecture"]?.object {
            guard let full = arch["network_class_name"]?.string else {
                throw fail("architecture lacks network_class_name")
            }
            var args = arch["arch_kwargs"]?.object ?? [:]
            args["input_channels"] = .number(Double(channels))
            args["num_classes"] = .number(Double(classes))
            return (String(full.split(separator: ".").last!), args)
        }
        guard let name = c["UNet_class_name"]?.string else {
            throw fail("the configuration has neither \"architecture\" nor \"UNet_class_name\"")
        }
        guard let base = c["UNet_base_num_features"]?.int, let maxFeatures = c["unet_max_num_features"]?.int,
              let encoder = c["n_conv_per_stage_encoder"]?.array, let decoder = c["n_conv_per_stage_decoder"],
              let pools = c["pool_op_kernel_sizes"], let kernels = c["conv_kernel_sizes"] else {
            throw fail("old-format plans need UNet_base_num_features, unet_max_num_features, n_conv_per_stage_encoder, "
                + "n_conv_per_stage_decoder, pool_op_kernel_sizes and conv_kernel_sizes")
        }
        let stages = encoder.count
        var args: [String: JSONValue] = [
            "input_channels": .number(Double(channels)), "num_classes": .number(Double(classes)),
            "n_stages": .number(Double(stages)),
            "features_per_stage": .array((0..<stages).map { .number(Double(min(base << $0, maxFeatures))) }),
            "conv_op": .string("torch.nn.modules.conv.Conv3d"), "kernel_sizes": kernels, "strides": pools,
            "n_conv_per_stage_decoder": decoder, "conv_bias": .bool(true),
            "norm_op": .string("torch.nn.modules.instancenorm.InstanceNorm3d"),
            "norm_op_kwargs": .object(["eps": .number(1e-5), "affine": .bool(true)]),
            "dropout_op": .null, "dropout_op_kwargs": .null,
            "nonlin": .string("torch.nn.LeakyReLU"), "nonlin_kwargs": .object(["inplace": .bool(true)]),
        ]
        args[name == ResidualEncoderUNetArchitecture.name ? "n_blocks_per_stage" : "n_conv_per_stage"] = .array(encoder)
        return (name, args)
    }

    /// `resampling_fn_<kind>` and its kwargs, with `resample_data_or_seg_to_shape`'s defaults
    /// (order 3, order_z 0, force_separate_z False) for keys the kwargs leave out.
    static func resampling(_ c: [String: JSONValue], _ kind: String, configuration: String,
                           fail: (String) -> ModelError) throws(ModelError) -> NNUNetResampling {
        let key = "resampling_fn_\(kind)"
        let supported = "resample_data_or_seg_to_shape"
        guard let function = c[key]?.string else {
            throw fail("configuration '\(configuration)' lacks \(key), needed to resample a scan whose spacing differs "
                + "from the plans' spacing")
        }
        guard function == supported else {
            throw fail("\(key) '\(function)' of configuration '\(configuration)' is not supported (supported: \(supported))")
        }
        let kwargs = c[key + "_kwargs"]?.object ?? [:]
        func order(_ name: String, _ fallback: Int) throws(ModelError) -> Int {
            guard let value = kwargs[name] else { return fallback }
            guard let o = value.int, NNUNetResampling.supportedOrders.contains(o) else {
                throw fail("\(key)_kwargs \(name) must be one of \(NNUNetResampling.supportedOrders)")
            }
            return o
        }
        if kwargs["is_seg"]?.bool == true { throw fail("\(key)_kwargs is_seg must be false") }
        var force: Bool? = false
        if let value = kwargs["force_separate_z"] {
            if case .null = value { force = nil } else if let b = value.bool { force = b } else {
                throw fail("\(key)_kwargs force_separate_z must be true, false or null")
            }
        }
        var resampling = NNUNetResampling(order: try order("order", 3), orderZ: try order("order_z", 0),
                                          forceSeparateZ: force)
        if let value = kwargs["separate_z_anisotropy_threshold"] {
            guard let t = value.number, t > 0 else {
                throw fail("\(key)_kwargs separate_z_anisotropy_threshold must be a positive number")
            }
            resampling.anisotropyThreshold = t
        }
        return resampling
    }

    private static func readObject(_ path: String) throws(ModelError) -> [String: JSONValue] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ModelError(path: path, problem: FileManager.default.fileExists(atPath: path) ? "cannot be read" : "file not found")
        }
        guard let value = try? JSONValue.parse(data), let object = value.object else {
            throw ModelError(path: path, problem: "malformed JSON (the top level must be an object)")
        }
        return object
    }
}

/// The two resamplings of an nnU-Net configuration.
public struct NNUNetResamplingPlan: Sendable, Equatable {
    /// `resampling_fn_data_kwargs`: scan → network grid.
    public let data: NNUNetResampling
    /// `resampling_fn_probabilities_kwargs`: logits, network grid → scan.
    public let probabilities: NNUNetResampling
}

/// The networks an nnU-Net results folder may name.
public enum NNUNetArchitectures {
    public static let all: [any NetworkArchitecture.Type] = [PlainConvUNetArchitecture.self,
                                                            ResidualEncoderUNetArchitecture.self]

    public static func named(_ name: String) -> (any NetworkArchitecture.Type)? {
        all.first { $0.name == name }
    }
}

/// Several folds' networks whose logits are averaged (nnU-Net's fold ensemble); the input
/// gradient is that of the averaged logits.
struct FoldEnsemble: TapedNetwork {
    let folds: [any TapedNetwork]

    func run(_ input: Var, _ g: Graph) -> Var {
        g.mean(folds.map { $0.run(input, g) })
    }
}
