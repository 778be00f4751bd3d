import Foundation

/// The constructor arguments `PlainConvUNet` and `ResidualEncoderUNet`
/// (dynamic_network_architectures 0.4.4) share, read with their names as nnU-Net's plans give
/// them (`architecture.arch_kwargs` plus `input_channels` and `num_classes`). Class names are
/// the dotted paths plans.json stores (`torch.nn.modules.conv.Conv3d`); the last component is
/// what counts.
struct NNUNetLayers: Sendable {
    let inputChannels: Int
    let classes: Int
    let features: [Int]
    let kernels: [[Int]]
    let strides: [[Int]]
    let decoderConvs: [Int]
    let convBias: Bool
    /// InstanceNorm3d's eps and affine flag, or nil without a norm.
    let norm: (eps: Float, affine: Bool)?
    let nonlin: ActivationSpec.Kind

    /// Arguments common to both networks; `own` lists the class's other argument names.
    init(_ arguments: [String: JSONValue], own: Set<String>, className: String) throws(ArchitectureError) {
        let common: Set<String> = ["input_channels", "n_stages", "features_per_stage", "conv_op", "kernel_sizes",
                                   "strides", "num_classes", "n_conv_per_stage_decoder", "conv_bias", "norm_op",
                                   "norm_op_kwargs", "dropout_op", "dropout_op_kwargs", "nonlin", "nonlin_kwargs",
                                   "deep_supervision"]
        if let bad = arguments.keys.sorted().first(where: { !common.contains($0) && !own.contains($0) }) {
            throw ArchitectureError("\(className) has no argument '\(bad)'")
        }
        inputChannels = try Self.positive(arguments, "input_channels")
        classes = try Self.positive(arguments, "num_classes")
        let stages = try Self.positive(arguments, "n_stages")
        features = try Self.perStage(arguments, "features_per_stage", stages)
        kernels = try Self.perAxisPerStage(arguments, "kernel_sizes", stages)
        strides = try Self.perAxisPerStage(arguments, "strides", stages)
        decoderConvs = try Self.perStage(arguments, "n_conv_per_stage_decoder", stages - 1)
        guard stages >= 2 else { throw ArchitectureError("n_stages must be at least 2") }
        guard kernels.allSatisfy({ $0.allSatisfy { $0 % 2 == 1 } }) else {
            throw ArchitectureError("kernel_sizes must be odd (padding is (k - 1) / 2)")
        }
        let conv = try Self.className(arguments["conv_op"], "conv_op")
        guard conv == "Conv3d" else { throw ArchitectureError("conv_op '\(conv ?? "null")' is not supported; only Conv3d is") }
        if let b = arguments["conv_bias"] {
            guard let v = b.bool else { throw ArchitectureError("conv_bias must be true or false") }
            convBias = v
        } else {
            convBias = false
        }
        switch try Self.className(arguments["norm_op"], "norm_op") {
        case nil:
            norm = nil
        case "InstanceNorm3d":
            let kw = arguments["norm_op_kwargs"]?.object ?? [:]
            try MONAILayerSpec.checkKeys(kw, allowed: ["eps", "affine", "momentum", "track_running_stats"],
                                         what: "norm_op_kwargs")
            if try MONAILayerSpec.bool(kw, "track_running_stats", default: false, what: "norm_op_kwargs") {
                throw ArchitectureError("InstanceNorm3d with track_running_stats is not supported")
            }
            norm = (Float(try MONAILayerSpec.number(kw, "eps", default: 1e-5, what: "norm_op_kwargs")),
                    try MONAILayerSpec.bool(kw, "affine", default: false, what: "norm_op_kwargs"))
        case let other?:
            throw ArchitectureError("norm_op '\(other)' is not supported (supported: InstanceNorm3d, null)")
        }
        switch try Self.className(arguments["dropout_op"], "dropout_op") {
        case nil, "Dropout", "Dropout3d": break  // identity at inference
        case let other?: throw ArchitectureError("dropout_op '\(other)' is not supported (supported: Dropout3d, null)")
        }
        let nkw = arguments["nonlin_kwargs"]?.object ?? [:]
        switch try Self.className(arguments["nonlin"], "nonlin") {
        case nil:
            nonlin = .none
        case "LeakyReLU":
            try MONAILayerSpec.checkKeys(nkw, allowed: ["negative_slope", "inplace"], what: "nonlin_kwargs")
            nonlin = .leakyReLU(Float(try MONAILayerSpec.number(nkw, "negative_slope", default: 0.01, what: "nonlin_kwargs")))
        case "ReLU":
            try MONAILayerSpec.checkKeys(nkw, allowed: ["inplace"], what: "nonlin_kwargs")
            nonlin = .relu
        case let other?:
            throw ArchitectureError("nonlin '\(other)' is not supported (supported: LeakyReLU, ReLU, null)")
        }
        if let ds = arguments["deep_supervision"], ds.bool == nil {
            throw ArchitectureError("deep_supervision must be true or false")
        }
    }

    var stageCount: Int { features.count }

    /// `ConvDropoutNormReLU` at `scope` (`conv`, `norm`): padding (k−1)/2 per axis.
    func convNormNonlin(_ scope: ParameterScope, _ cin: Int, _ cout: Int, kernel: [Int], stride: [Int],
                        bias: Bool? = nil, nonlinear: Bool = true) -> ConvADN {
        let geometry = ConvGeometry(kernel: kernel, stride: stride, padding: kernel.map { ($0 - 1) / 2 })
        let conv = Conv3d(scope["conv"], in: cin, out: cout, geometry: geometry, bias: bias ?? convBias)
        let n: ConvADN.Norm
        if let norm {
            n = .statistics(InstanceNorm3d(channels: cout, eps: norm.eps,
                                           weight: norm.affine ? scope["norm"].tensor("weight", [cout]) : nil,
                                           bias: norm.affine ? scope["norm"].tensor("bias", [cout]) : nil))
        } else {
            n = .none
        }
        let act: Activation
        switch nonlinear ? nonlin : .none {
        case .leakyReLU(let s): act = .leakyReLU(negativeSlope: s)
        case .relu: act = .relu
        default: act = .identity
        }
        return ConvADN(conv: conv, norm: n, activation: act)
    }

    /// `UNetDecoder` at `scope` (`decoder`): its stages run from the lowest resolution up; every
    /// `seg_layers` head is loaded (deep-supervision checkpoints carry them) but only the last,
    /// full-resolution one is used, as at inference.
    func decoder(_ scope: ParameterScope) -> NNUNetDecoder {
        let f = features, n = stageCount
        var stages: [NNUNetDecoder.Stage] = []
        var head: Conv3d?
        for i in 0..<(n - 1) {
            let below = f[n - 1 - i], skip = f[n - 2 - i]
            let stride = strides[n - 1 - i]
            let up = ConvTranspose3d(scope["transpconvs"][i], in: below, out: skip,
                                     geometry: ConvGeometry(kernel: stride, stride: stride), bias: convBias)
            let convs = (0..<decoderConvs[i]).map { c in
                convNormNonlin(scope["stages"][i]["convs"][c], c == 0 ? 2 * skip : skip, skip,
                               kernel: kernels[n - 2 - i], stride: [1, 1, 1])
            }
            stages.append(NNUNetDecoder.Stage(up: up, convs: convs))
            let seg = Conv3d(scope["seg_layers"][i], in: skip, out: classes, geometry: ConvGeometry(kernel: [1, 1, 1]),
                             bias: true)
            if i == n - 2 { head = seg }
        }
        return NNUNetDecoder(stages: stages, head: head!)
    }

    /// Why a patch cannot pass through the network: every stage's strides must divide it.
    func patchProblem(_ patch: [Int], className: String) -> String? {
        let total = (0..<3).map { axis in strides.reduce(1) { $0 * $1[axis] } }
        guard patch.count == 3, zip(patch, total).allSatisfy({ $0 > 0 && $0 % $1 == 0 }) else {
            return "patch size \(patch) must be divisible by \(total), the product of the \(className) strides"
        }
        return nil
    }

    // MARK: Argument forms

    static func positive(_ a: [String: JSONValue], _ key: String) throws(ArchitectureError) -> Int {
        guard let v = a[key] else { throw ArchitectureError("missing argument '\(key)'") }
        guard let i = v.int, i >= 1 else { throw ArchitectureError("\(key) must be a positive integer") }
        return i
    }

    /// An int (repeated) or a list of `count` positive ints.
    static func perStage(_ a: [String: JSONValue], _ key: String, _ count: Int) throws(ArchitectureError) -> [Int] {
        guard let v = a[key] else { throw ArchitectureError("missing argument '\(key)'") }
        if let i = v.int, i >= 1 { return [Int](repeating: i, count: count) }
        guard let list = v.array, list.count == count, list.allSatisfy({ ($0.int ?? 0) >= 1 }) else {
            throw ArchitectureError("\(key) must be a positive integer or a list of \(count)")
        }
        return list.map { $0.int! }
    }

    /// Per stage an int or three ints; an int overall is repeated for every stage.
    static func perAxisPerStage(_ a: [String: JSONValue], _ key: String, _ count: Int) throws(ArchitectureError) -> [[Int]] {
        guard let v = a[key] else { throw ArchitectureError("missing argument '\(key)'") }
        func axes(_ x: JSONValue) -> [Int]? {
            if let i = x.int, i >= 1 { return [i, i, i] }
            guard let l = x.array, l.count == 3, l.allSatisfy({ ($0.int ?? 0) >= 1 }) else { return nil }
            return l.map { $0.int! }
        }
        if let one = axes(v), v.int != nil { return [[Int]](repeating: one, count: count) }
        guard let list = v.array, list.count == count else {
            throw ArchitectureError("\(key) must list one entry per stage (\(count))")
        }
        var out: [[Int]] = []
        for x in list {
            guard let e = axes(x) else { throw ArchitectureError("\(key) entries must be a positive integer or three") }
            out.append(e)
        }
        return out
    }

    /// The class name a plans entry names (`torch.nn.modules.conv.Conv3d` → `Conv3d`), or nil for null.
    static func className(_ v: JSONValue?, _ key: String) throws(ArchitectureError) -> String? {
        guard let v, v != .null else { return nil }
        guard let s = v.string else { throw ArchitectureError("\(key) must be a class name or null") }
        return String(s.split(separator: ".").last ?? Substring(s))
    }
}

/// nnU-Net's `UNetDecoder` at inference: per stage, transposed convolution (k = s), concat
/// (upsampled, skip), the stacked convolutions; then the last segmentation head.
struct NNUNetDecoder: Sendable {
    struct Stage: Sendable {
        let up: ConvTranspose3d
        let convs: [ConvADN]
    }

    let stages: [Stage]
    let head: Conv3d

    /// `skips` in encoder order; the last is the bottleneck.
    func run(_ skips: [Var], _ g: Graph) -> Var {
        var x = skips[skips.count - 1]
        for (i, stage) in stages.enumerated() {
            let up = g.deconv(x, stage.up)
            x = g.convADN([up, skips[skips.count - 2 - i]], stage.convs[0])
            for conv in stage.convs.dropFirst() { x = g.convADN([x], conv) }
        }
        return g.conv([x], head)
    }
}
