import Foundation

/// MONAI `SegResNet` (monai.networks.nets.segresnet) constructor arguments, with MONAI's names
/// and defaults (ARCHITECTURES.md §3.2):
///
///     SegResNet(spatial_dims=3, init_filters=8, in_channels=1, out_channels=2, dropout_prob=None,
///               act=("RELU", {"inplace": True}), norm=("GROUP", {"num_groups": 8}), norm_name="",
///               num_groups=8, use_conv_final=True, blocks_down=(1, 2, 2, 4), blocks_up=(1, 1, 1),
///               upsample_mode="nontrainable")
///
/// Module tree: `convInit` (3×3×3, no bias); `down_layers.i` = (identity | 3×3×3 stride-2 conv
/// `down_layers.i.0`) then ResBlocks `down_layers.i.1…`; per decoder level i a 1×1×1 conv halving
/// the channels (`up_samples.i.0`), ×2 upsampling (trilinear, or `up_samples.i.1.deconv` k = s = 2),
/// the skip **added**, then ResBlocks `up_layers.i.b`; `conv_final` = GroupNorm → act → 1×1×1 conv
/// with bias (in the state_dict even with use_conv_final false). A ResBlock is x + conv2(act(norm2(conv1(act(norm1(x)))))), convolutions without bias.
public struct SegResNetArchitecture: ModuleTreeArchitecture {
    public static let name = "SegResNet"

    public let inputChannels: Int
    /// out_channels, or init_filters without the final convolution.
    public let outputChannels: Int
    /// out_channels: the final convolution's width, built even when unused.
    let outChannels: Int
    public let initFilters: Int
    public let blocksDown: [Int]
    public let blocksUp: [Int]
    public let useConvFinal: Bool
    public let deconvolution: Bool
    public let groups: Int
    let groupEps: Float
    let groupAffine: Bool
    let activation: Activation

    public init(arguments: [String: JSONValue], monaiVersion: MONAIVersion?) throws(ArchitectureError) {
        let known: Set<String> = ["spatial_dims", "init_filters", "in_channels", "out_channels", "dropout_prob", "act",
                                  "norm", "norm_name", "num_groups", "use_conv_final", "blocks_down", "blocks_up",
                                  "upsample_mode"]
        if let bad = arguments.keys.sorted().first(where: { !known.contains($0) }) {
            throw ArchitectureError("SegResNet has no argument '\(bad)'")
        }
        let args = ArgumentReader(arguments)
        guard try args.integer("spatial_dims", default: 3) == 3 else {
            throw ArchitectureError("spatial_dims must be 3; only 3-D networks are supported")
        }
        initFilters = try args.integer("init_filters", default: 8)
        inputChannels = try args.integer("in_channels", default: 1)
        outChannels = try args.integer("out_channels", default: 2)
        blocksDown = try Self.blockCounts(arguments["blocks_down"], "blocks_down", default: [1, 2, 2, 4])
        blocksUp = try Self.blockCounts(arguments["blocks_up"], "blocks_up", default: [1, 1, 1])
        guard blocksUp.count == blocksDown.count - 1 else {
            throw ArchitectureError("blocks_up must have one entry fewer than blocks_down (\(blocksDown.count - 1)), "
                + "so that each decoder level meets an encoder level of its width")
        }
        guard initFilters << (blocksDown.count - 1) <= 4096 else {
            throw ArchitectureError("init_filters \(initFilters) × 2^\(blocksDown.count - 1) exceeds 4096 channels")
        }
        if let p = arguments["dropout_prob"], p != .null {
            guard let v = p.number, (0...1).contains(v) else { throw ArchitectureError("dropout_prob must be null or between 0 and 1") }
        }
        activation = try Self.activation(arguments["act"] ?? .array([.string("RELU"), .object(["inplace": .bool(true)])]))
        var norm = arguments["norm"] ?? .array([.string("GROUP"), .object(["num_groups": .number(8)])])
        let normName = try args.string("norm_name", default: "")
        let legacyGroups = try args.integer("num_groups", default: 8)
        if !normName.isEmpty {
            guard normName.lowercased() == "group" else {
                throw ArchitectureError("norm_name '\(normName)' is not supported; MONAI only accepts \"group\" (use norm)")
            }
            norm = .array([.string("group"), .object(["num_groups": .number(Double(legacyGroups))])])
        }
        guard let spec = try MONAILayerSpec.split(norm, what: "norm"), spec.name == "group" else {
            throw ArchitectureError("norm must be GROUP (the SegResNet default); other norms are not supported")
        }
        try MONAILayerSpec.checkKeys(spec.args, allowed: ["num_groups", "eps", "affine"], what: "group norm")
        guard let g = spec.args["num_groups"]?.int, g >= 1 else {
            throw ArchitectureError("norm: group norm needs num_groups, a positive integer")
        }
        guard initFilters % g == 0 else {
            throw ArchitectureError("norm: num_groups \(g) must divide init_filters \(initFilters)")
        }
        groups = g
        groupEps = Float(try MONAILayerSpec.number(spec.args, "eps", default: 1e-5, what: "group norm"))
        guard groupEps > 0 else { throw ArchitectureError("norm: group norm eps must be positive") }
        groupAffine = try MONAILayerSpec.bool(spec.args, "affine", default: true, what: "group norm")
        useConvFinal = try args.bool("use_conv_final", default: true)
        outputChannels = useConvFinal ? outChannels : initFilters
        switch try args.string("upsample_mode", default: "nontrainable").lowercased() {
        case "nontrainable": deconvolution = false
        case "deconv": deconvolution = true
        case let other:
            throw ArchitectureError("upsample_mode '\(other)' is not supported (supported: nontrainable, deconv)")
        }
    }

    static func blockCounts(_ value: JSONValue?, _ key: String, default d: [Int]) throws(ArchitectureError) -> [Int] {
        guard let value else { return d }
        guard let a = value.array, !a.isEmpty, a.count <= 8, a.allSatisfy({ ($0.int ?? -1) >= 0 && ($0.int ?? 0) <= 64 }) else {
            throw ArchitectureError("\(key) must list 1…8 block counts in 0…64")
        }
        return a.map { $0.int! }
    }

    /// ReLU or LeakyReLU (parameter-free, as SegResNet shares one activation module per block).
    static func activation(_ value: JSONValue) throws(ArchitectureError) -> Activation {
        switch try ActivationSpec(value).kind {
        case .relu: return .relu
        case .leakyReLU(let s): return .leakyReLU(negativeSlope: s)
        case .none: return .identity
        case .prelu: throw ArchitectureError("act prelu is not supported for SegResNet (supported: relu, leakyrelu)")
        }
    }

    /// The last layer whose weight's first dimension is the output channel count.
    public var classifierWeightKey: String {
        if useConvFinal { return "conv_final.2.conv.weight" }
        let last = blocksUp.count - 1
        return blocksUp[last] > 0 ? "up_layers.\(last).\(blocksUp[last] - 1).conv2.conv.weight"
            : deconvolution ? "up_samples.\(last).1.deconv.bias" : "up_samples.\(last).0.conv.weight"
    }

    /// Every stride-2 level halves the size and the decoder doubles it back.
    public func roiProblem(_ roiSize: [Int]) -> String? {
        let factor = 1 << (blocksDown.count - 1)
        guard roiSize.count == 3, roiSize.allSatisfy({ $0 > 0 && $0 % factor == 0 }) else {
            return "roi_size \(roiSize) must have three sizes divisible by \(factor) (SegResNet halves the size "
                + "\(blocksDown.count - 1) times)"
        }
        return nil
    }

    func makeNetwork(_ scope: ParameterScope) -> any SegmentationNetwork {
        let k3 = ConvGeometry(kernel: [3, 3, 3], padding: [1, 1, 1])
        let pointwise = ConvGeometry(kernel: [1, 1, 1])
        let convInit = Conv3d(scope["convInit"]["conv"], in: inputChannels, out: initFilters, geometry: k3, bias: false)
        let down = blocksDown.enumerated().map { i, count in
            let c = initFilters << i
            let layer = scope["down_layers"][i]
            let pre = i == 0 ? nil
                : Conv3d(layer[0]["conv"], in: c / 2, out: c,
                         geometry: ConvGeometry(kernel: [3, 3, 3], stride: [2, 2, 2], padding: [1, 1, 1]), bias: false)
            return SegResNetDown(downsample: pre, blocks: (0..<count).map { resBlock(layer[1 + $0], c) })
        }
        let levels = blocksUp.count
        let upBlocks = blocksUp.enumerated().map { i, count in
            (0..<count).map { resBlock(scope["up_layers"][i][$0], initFilters << (levels - i - 1)) }
        }
        let up = (0..<levels).map { i in
            let c = initFilters << (levels - i)
            let sample = scope["up_samples"][i]
            let reduce = Conv3d(sample[0]["conv"], in: c, out: c / 2, geometry: pointwise, bias: false)
            let deconv = deconvolution
                ? ConvTranspose3d(sample[1]["deconv"], in: c / 2, out: c / 2,
                                  geometry: ConvGeometry(kernel: [2, 2, 2], stride: [2, 2, 2]), bias: true)
                : nil
            return SegResNetUp(reduce: reduce, deconv: deconv, blocks: upBlocks[i])
        }
        // MONAI builds conv_final even when use_conv_final is false: its weights are in every
        // state_dict, loaded here and then left unused.
        let final = SegResNetHead(
            normAct: NormActivation(norm: groupNorm(scope["conv_final"][0], initFilters), activation: activation),
            conv: Conv3d(scope["conv_final"][2]["conv"], in: initFilters, out: outChannels, geometry: pointwise, bias: true))
        return SegResNet(convInit: convInit, down: down, up: up, head: useConvFinal ? final : nil)
    }

    private func groupNorm(_ scope: ParameterScope, _ channels: Int) -> ConvADN.Norm {
        .group(GroupNorm(groups: groups, channels: channels, eps: groupEps,
                         weight: groupAffine ? scope.tensor("weight", [channels]) : nil,
                         bias: groupAffine ? scope.tensor("bias", [channels]) : nil))
    }

    private func resBlock(_ scope: ParameterScope, _ c: Int) -> SegResNetBlock {
        let k3 = ConvGeometry(kernel: [3, 3, 3], padding: [1, 1, 1])
        // MONAI registers norm1, norm2, then conv1, conv2.
        let norm1 = groupNorm(scope["norm1"], c), norm2 = groupNorm(scope["norm2"], c)
        return SegResNetBlock(first: NormActivation(norm: norm1, activation: activation),
                              conv1: Conv3d(scope["conv1"]["conv"], in: c, out: c, geometry: k3, bias: false),
                              second: NormActivation(norm: norm2, activation: activation),
                              conv2: Conv3d(scope["conv2"]["conv"], in: c, out: c, geometry: k3, bias: false))
    }
}

/// MONAI's SegResNet `ResBlock` (pre-activation).
struct SegResNetBlock: Sendable {
    let first: NormActivation
    let conv1: Conv3d
    let second: NormActivation
    let conv2: Conv3d

    func run(_ x: Var, _ g: Graph) -> Var {
        let h = g.conv([g.normActivation(x, first)], conv1)
        return g.add(g.conv([g.normActivation(h, second)], conv2), x)
    }
}

struct SegResNetDown: Sendable {
    /// nil at the first level (MONAI's Identity).
    let downsample: Conv3d?
    let blocks: [SegResNetBlock]
}

struct SegResNetUp: Sendable {
    let reduce: Conv3d
    /// nil: trilinear upsampling.
    let deconv: ConvTranspose3d?
    let blocks: [SegResNetBlock]
}

struct SegResNetHead: Sendable {
    let normAct: NormActivation
    let conv: Conv3d
}

/// A SegResNet with weights. Built by `SegResNetArchitecture`.
public struct SegResNet: TapedNetwork {
    let convInit: Conv3d
    let down: [SegResNetDown]
    let up: [SegResNetUp]
    let head: SegResNetHead?

    func run(_ input: Var, _ g: Graph) -> Var {
        var x = g.conv([input], convInit)
        var skips: [Var] = []
        for level in down {
            if let d = level.downsample { x = g.conv([x], d) }
            for block in level.blocks { x = block.run(x, g) }
            skips.append(x)
        }
        skips.removeLast()
        for level in up {
            let reduced = g.conv([x], level.reduce)
            let upsampled = level.deconv.map { g.deconv(reduced, $0) } ?? g.upsample(reduced, TrilinearUpsample())
            x = g.add(upsampled, skips.removeLast())
            for block in level.blocks { x = block.run(x, g) }
        }
        guard let head else { return x }
        return g.conv([g.normActivation(x, head.normAct)], head.conv)
    }
}
