import Foundation

/// MONAI `SwinUNETR` (monai.networks.nets.swin_unetr, constructor of MONAI ≥ 1.5):
///
///     SwinUNETR(in_channels, out_channels, patch_size=2, depths=(2, 2, 2, 2), num_heads=(3, 6, 12, 24),
///               window_size=7, qkv_bias=True, mlp_ratio=4.0, feature_size=24, norm_name="instance",
///               drop_rate=0.0, attn_drop_rate=0.0, dropout_path_rate=0.0, normalize=True,
///               patch_norm=False, use_checkpoint=False, spatial_dims=3, downsample="merging",
///               use_v2=False)
///
/// Module tree (ARCHITECTURES.md §1.3–1.4): `swinViT.patch_embed`, four Swin stages
/// `swinViT.layersK.0` (blocks, then patch merging), with `use_v2` a residual conv block
/// `swinViT.layersKc.0` before each; conv encoders `encoder1…4, encoder10`; up blocks
/// `decoder5…1`; the 1×1 head `out`. Drop rates are identities at inference.
///
/// The patch-merging slot order changed in MONAI 1.5.0 with identical keys, so it is chosen from
/// model.json's `monai_version` (absent: the current order) and never from the weights.
public struct SwinUNETRArchitecture: ModuleTreeArchitecture {
    public static let name = "SwinUNETR"

    public let inputChannels: Int
    public let outputChannels: Int
    public let patchSize: Int
    public let window: [Int]
    public let depths: [Int]
    public let heads: [Int]
    public let featureSize: Int
    public let normalize: Bool
    public let patchNorm: Bool
    public let useV2: Bool
    public let qkvBias: Bool
    public let mlpRatio: Double
    public let mergeOrder: SwinGeometry.MergeOrder
    let norm: NormSpec

    public init(arguments: [String: JSONValue], monaiVersion: MONAIVersion?) throws(ArchitectureError) {
        let legacy = monaiVersion.map { $0 < MONAIVersion(major: 1, minor: 5) } ?? false
        var known: Set<String> = ["in_channels", "out_channels", "patch_size", "depths", "num_heads", "window_size",
                                  "qkv_bias", "mlp_ratio", "feature_size", "norm_name", "drop_rate", "attn_drop_rate",
                                  "dropout_path_rate", "normalize", "patch_norm", "use_checkpoint", "spatial_dims",
                                  "downsample", "use_v2", "use_flash_attention", "use_hyena"]
        if legacy { known.insert("img_size") }
        if arguments["img_size"] != nil && !legacy {
            throw ArchitectureError("img_size was removed in MONAI 1.5; drop it, or set \"monai_version\" for a "
                + "checkpoint from MONAI ≤ 1.4")
        }
        if let bad = arguments.keys.sorted().first(where: { !known.contains($0) }) {
            throw ArchitectureError("SwinUNETR has no argument '\(bad)'")
        }
        let args = ArgumentReader(arguments)
        guard try args.integer("spatial_dims", default: 3) == 3 else {
            throw ArchitectureError("spatial_dims must be 3; only 3-D networks are supported")
        }
        inputChannels = try args.required("in_channels")
        outputChannels = try args.required("out_channels")
        patchSize = try args.integer("patch_size", default: 2)
        window = try args.integers("window_size", count: 3, default: [7, 7, 7], scalarAllowed: true)
        depths = try args.integers("depths", count: 4, default: [2, 2, 2, 2])
        heads = try args.integers("num_heads", count: 4, default: [3, 6, 12, 24])
        featureSize = try args.integer("feature_size", default: 24)
        guard featureSize % 12 == 0 else { throw ArchitectureError("feature_size \(featureSize) must be divisible by 12") }
        for stage in 0..<4 where (featureSize << stage) % heads[stage] != 0 {
            throw ArchitectureError("num_heads[\(stage)] = \(heads[stage]) does not divide stage \(stage + 1)'s "
                + "\(featureSize << stage) channels")
        }
        normalize = try args.bool("normalize", default: true)
        patchNorm = try args.bool("patch_norm", default: false)
        useV2 = try args.bool("use_v2", default: false)
        qkvBias = try args.bool("qkv_bias", default: true)
        _ = try args.bool("use_checkpoint", default: false)
        _ = try args.bool("use_flash_attention", default: false)
        guard try !args.bool("use_hyena", default: false) else {
            throw ArchitectureError("use_hyena is not supported; only window attention is")
        }
        mlpRatio = try args.number("mlp_ratio", default: 4)
        guard mlpRatio > 0, Int(Double(featureSize) * mlpRatio) >= 1 else {
            throw ArchitectureError("mlp_ratio must be positive")
        }
        for key in ["drop_rate", "attn_drop_rate", "dropout_path_rate"] {
            guard (0...1).contains(try args.number(key, default: 0)) else {
                throw ArchitectureError("\(key) must be between 0 and 1")
            }
        }
        switch try args.string("downsample", default: "merging") {
        case "merging": mergeOrder = legacy ? .mergingLegacy : .merging
        case "mergingv2": mergeOrder = .mergingV2
        case let other: throw ArchitectureError("downsample '\(other)' is not supported (supported: merging, mergingv2)")
        }
        norm = try NormSpec(arguments["norm_name"] ?? .string("instance"))
        if let size = arguments["img_size"] {
            let dims = try args.integers("img_size", count: 3, default: [], scalarAllowed: true)
            if let bad = dims.first(where: { $0 % (1 << 5) != 0 }) {
                throw ArchitectureError("img_size \(size) must be divisible by 32 (found \(bad))")
            }
        }
    }

    public var classifierWeightKey: String { "out.conv.conv.weight" }

    /// Every dimension divisible by patch_size⁵ (MONAI's forward check), and a bottleneck of more
    /// than one voxel (PyTorch's InstanceNorm refuses one).
    public func roiProblem(_ roiSize: [Int]) -> String? {
        let factor = Int(pow(Double(patchSize), 5))
        guard roiSize.count == 3, roiSize.allSatisfy({ $0 > 0 && $0 % factor == 0 }) else {
            return "roi_size \(roiSize) must have three sizes divisible by \(factor) (patch_size⁵ for SwinUNETR)"
        }
        guard roiSize.map({ $0 / factor }).reduce(1, *) > 1 else {
            return "roi_size \(roiSize) leaves a one-voxel bottleneck; instance norm needs more than one voxel"
        }
        return nil
    }

    public var optionalIntegerBuffers: [(key: String, shape: [Int], values: [Int])] {
        let index = SwinGeometry.relativePositionIndex(window: window)
        let n = window.reduce(1, *)
        return (0..<4).flatMap { stage in
            (0..<depths[stage]).map { b in
                ("swinViT.layers\(stage + 1).0.blocks.\(b).attn.relative_position_index", [n, n], index)
            }
        }
    }

    func makeNetwork(_ scope: ParameterScope) -> any SegmentationNetwork {
        let f = featureSize
        let vit = scope["swinViT"]
        let embed = Conv3d(vit["patch_embed"]["proj"], in: inputChannels, out: f,
                           geometry: ConvGeometry(kernel: [patchSize, patchSize, patchSize],
                                                  stride: [patchSize, patchSize, patchSize]), bias: true)
        let embedNorm = patchNorm ? LayerNorm(vit["patch_embed"]["norm"], width: f) : nil
        let tableRows = window.map { 2 * $0 - 1 }.reduce(1, *)
        var stages: [SwinStage] = []
        var convStages: [UnetResBlock] = []
        for stage in 0..<4 {
            let c = f << stage
            if useV2 {
                convStages.append(UnetResBlock(vit["layers\(stage + 1)c"][0]["layer"], in: c, out: c, norm: norm))
            }
            let layer = vit["layers\(stage + 1)"][0]
            let hidden = Int(Double(c) * mlpRatio)
            let blocks = (0..<depths[stage]).map { b in
                let s = layer["blocks"][b]
                return SwinBlock(norm1: LayerNorm(s["norm1"], width: c),
                                 qkv: Linear(s["attn"]["qkv"], in: c, out: 3 * c, bias: qkvBias),
                                 biasTable: s["attn"].tensor("relative_position_bias_table", [tableRows, heads[stage]]),
                                 proj: Linear(s["attn"]["proj"], in: c, out: c, bias: true),
                                 norm2: LayerNorm(s["norm2"], width: c),
                                 linear1: Linear(s["mlp"]["linear1"], in: c, out: hidden, bias: true),
                                 linear2: Linear(s["mlp"]["linear2"], in: hidden, out: c, bias: true),
                                 shifted: b % 2 == 1)
            }
            stages.append(SwinStage(blocks: blocks, heads: heads[stage], channels: c, window: window,
                                    positionIndex: SwinGeometry.relativePositionIndex(window: window),
                                    mergeOrder: mergeOrder,
                                    reduction: Linear(layer["downsample"]["reduction"], in: 8 * c, out: 2 * c, bias: false),
                                    mergeNorm: LayerNorm(layer["downsample"]["norm"], width: 8 * c)))
        }
        func encoder(_ name: String, _ cin: Int, _ cout: Int) -> UnetResBlock {
            UnetResBlock(scope[name]["layer"], in: cin, out: cout, norm: norm)
        }
        func decoder(_ name: String, _ cin: Int, _ cout: Int) -> UnetrUpBlock {
            UnetrUpBlock(deconv: ConvTranspose3d(scope[name]["transp_conv"]["conv"], in: cin, out: cout,
                                                 geometry: ConvGeometry(kernel: [2, 2, 2], stride: [2, 2, 2]), bias: false),
                         block: UnetResBlock(scope[name]["conv_block"], in: 2 * cout, out: cout, norm: norm))
        }
        return SwinUNETR(
            embed: embed, embedNorm: embedNorm, stages: stages, convStages: convStages, normalize: normalize,
            encoders: [encoder("encoder1", inputChannels, f), encoder("encoder2", f, f),
                       encoder("encoder3", 2 * f, 2 * f), encoder("encoder4", 4 * f, 4 * f),
                       encoder("encoder10", 16 * f, 16 * f)],
            decoders: [decoder("decoder5", 16 * f, 8 * f), decoder("decoder4", 8 * f, 4 * f),
                       decoder("decoder3", 4 * f, 2 * f), decoder("decoder2", 2 * f, f), decoder("decoder1", f, f)],
            head: Conv3d(scope["out"]["conv"]["conv"], in: f, out: outputChannels,
                         geometry: ConvGeometry(kernel: [1, 1, 1]), bias: true))
    }
}

/// MONAI `UnetResBlock` (kernel 3, stride 1): conv1 → norm1 → LeakyReLU(0.01) → conv2 → norm2,
/// plus the input (through conv3 1×1 → norm3 when the channel count changes), then LeakyReLU.
/// Its convolutions have no bias. Wrapped as `UnetrBasicBlock(res_block=True)` it sits under `.layer`.
struct UnetResBlock: Sendable {
    static let slope: Float = 0.01
    let conv1: ConvADN
    let conv2: ConvADN
    let conv3: ConvADN?

    init(_ scope: ParameterScope, in cin: Int, out cout: Int, norm: NormSpec) {
        let k3 = ConvGeometry(kernel: [3, 3, 3], padding: [1, 1, 1])
        conv1 = ConvADN(conv: Conv3d(scope["conv1"]["conv"], in: cin, out: cout, geometry: k3, bias: false),
                        norm: ConvADN.Norm(norm, scope["norm1"], channels: cout),
                        activation: .leakyReLU(negativeSlope: Self.slope))
        conv2 = ConvADN(conv: Conv3d(scope["conv2"]["conv"], in: cout, out: cout, geometry: k3, bias: false),
                        norm: ConvADN.Norm(norm, scope["norm2"], channels: cout), activation: .identity)
        conv3 = cin == cout ? nil
            : ConvADN(conv: Conv3d(scope["conv3"]["conv"], in: cin, out: cout, geometry: ConvGeometry(kernel: [1, 1, 1]),
                                   bias: false),
                      norm: ConvADN.Norm(norm, scope["norm3"], channels: cout), activation: .identity)
    }

    /// `inputs` are concatenated along channels.
    func run(_ inputs: [Var], _ g: Graph) -> Var {
        let residual = conv3.map { g.convADN(inputs, $0) } ?? inputs[0]
        let h = g.convADN([g.convADN(inputs, conv1)], conv2)
        return g.addLeakyReLU(h, residual, negativeSlope: Self.slope)
    }
}

/// MONAI `UnetrUpBlock`: ConvTranspose3d(k = s = 2, no bias), then UnetResBlock over
/// cat(upsampled, skip), upsampled first.
struct UnetrUpBlock: Sendable {
    let deconv: ConvTranspose3d
    let block: UnetResBlock

    func run(_ x: Var, skip: Var, _ g: Graph) -> Var {
        block.run([g.deconv(x, deconv), skip], g)
    }
}

/// MONAI `SwinTransformerBlock` (pre-norm, eval): x + attn(norm1(x)) in (shifted) windows, then
/// x + mlp(norm2(x)) with an exact-GELU MLP.
struct SwinBlock: Sendable {
    let norm1: LayerNorm
    let qkv: Linear
    /// [(2W_d − 1)(2W_h − 1)(2W_w − 1), heads].
    let biasTable: [Float]
    let proj: Linear
    let norm2: LayerNorm
    let linear1: Linear
    let linear2: Linear
    /// Odd blocks shift their windows by half a window (when the clamped shift is not zero).
    let shifted: Bool

    /// `x` [N, C] tokens; `windows` is this block's partition, reverse and attention.
    func run(_ x: Var, windows: StageWindows, _ g: Graph) -> Var {
        let c = x.value.width
        var y = g.gather(g.layerNorm(x, norm1), windows.partition, width: c)
        y = g.linear(g.windowAttention(g.linear(y, qkv), windows.attention), proj)
        let h = g.add(x, g.gather(y, windows.reverse, width: c))
        return g.add(h, g.linear(g.gelu(g.linear(g.layerNorm(h, norm2), linear1)), linear2))
    }
}

/// The window layout of one block at one input size.
struct StageWindows {
    let partition: RowGather
    let reverse: RowGather
    let attention: WindowAttention
}

/// MONAI `BasicLayer`: the stage's blocks (even unshifted, odd shifted), then PatchMerging
/// (gather of the 2×2×2 sub-voxels in the configured slot order → LayerNorm(8C) → Linear 8C → 2C).
struct SwinStage: Sendable {
    let blocks: [SwinBlock]
    let heads: Int
    let channels: Int
    let window: [Int]
    /// The configured window's relative-position index [W³, W³].
    let positionIndex: [Int]
    let mergeOrder: SwinGeometry.MergeOrder
    let reduction: Linear
    let mergeNorm: LayerNorm

    /// `x` [D·H·W, C] tokens on `dims` → merged tokens [⌈D/2⌉·⌈H/2⌉·⌈W/2⌉, 2C].
    func run(_ x: Var, dims: [Int], _ g: Graph) -> (tokens: Var, dims: [Int]) {
        let (win, shift) = SwinGeometry.clamped(dims: dims, window: window, shift: window.map { $0 / 2 })
        let n = win.reduce(1, *)
        let perImage = SwinGeometry.padded(dims: dims, window: win).reduce(1, *) / n
        func layout(shift s: [Int], table: [Float]) -> StageWindows {
            let bias = SwinGeometry.bias(table: table, heads: heads, index: positionIndex,
                                         configuredTokens: window.reduce(1, *), tokens: n)
            let regions = s.contains { $0 > 0 } ? SwinGeometry.regions(dims: dims, window: win, shift: s) : nil
            return StageWindows(partition: SwinGeometry.partition(dims: dims, window: win, shift: s),
                                reverse: SwinGeometry.reverse(dims: dims, window: win, shift: s),
                                attention: WindowAttention(heads: heads, headDim: channels / heads, tokens: n, bias: bias,
                                                           regions: regions, windowsPerImage: perImage))
        }
        var h = x
        for block in blocks {
            h = block.run(h, windows: layout(shift: block.shifted ? shift : [0, 0, 0], table: block.biasTable), g)
        }
        let merged = SwinGeometry.mergedDims(dims)
        let gathered = g.gather(h, SwinGeometry.merging(dims: dims, order: mergeOrder), width: channels,
                                shape: [merged.reduce(1, *), 8 * channels])
        return (g.linear(g.layerNorm(gathered, mergeNorm), reduction), merged)
    }
}

/// A SwinUNETR with weights. Built by `SwinUNETRArchitecture`.
public struct SwinUNETR: TapedNetwork {
    let embed: Conv3d
    let embedNorm: LayerNorm?
    let stages: [SwinStage]
    /// `use_v2` residual blocks before each stage (empty without v2).
    let convStages: [UnetResBlock]
    let normalize: Bool
    /// encoder1, encoder2, encoder3, encoder4, encoder10.
    let encoders: [UnetResBlock]
    /// decoder5 … decoder1.
    let decoders: [UnetrUpBlock]
    let head: Conv3d

    /// `proj_out`: LayerNorm over channels without affine (eps 1e-5), or the identity.
    private func projOut(tokens: Var, dims: [Int], _ g: Graph) -> Var {
        let t = normalize ? g.layerNorm(tokens, LayerNorm(width: tokens.value.width)) : tokens
        return g.toChannelsFirst(t, spatial: dims)
    }

    func run(_ input: Var, _ g: Graph) -> Var {
        var x = g.conv([input], embed)
        var dims = x.value.spatial
        var tokens = g.toChannelsLast(x)
        if let embedNorm {
            tokens = g.layerNorm(tokens, embedNorm)
            x = g.toChannelsFirst(tokens, spatial: dims)
        }
        var hidden = [projOut(tokens: tokens, dims: dims, g)]
        for (i, stage) in stages.enumerated() {
            if !convStages.isEmpty {
                x = convStages[i].run([x], g)
                tokens = g.toChannelsLast(x)
            }
            (tokens, dims) = stage.run(tokens, dims: dims, g)
            hidden.append(projOut(tokens: tokens, dims: dims, g))
            if !convStages.isEmpty && i < stages.count - 1 { x = g.toChannelsFirst(tokens, spatial: dims) }
        }
        let enc0 = encoders[0].run([input], g)
        let enc1 = encoders[1].run([hidden[0]], g)
        let enc2 = encoders[2].run([hidden[1]], g)
        let enc3 = encoders[3].run([hidden[2]], g)
        var h = encoders[4].run([hidden[4]], g)
        h = decoders[0].run(h, skip: hidden[3], g)
        hidden.removeAll()
        h = decoders[1].run(h, skip: enc3, g)
        h = decoders[2].run(h, skip: enc2, g)
        h = decoders[3].run(h, skip: enc1, g)
        h = decoders[4].run(h, skip: enc0, g)
        return g.conv([h], head)
    }
}

/// A MONAI version as model.json states it (`"monai_version": "1.4.0"`): major.minor[.patch] with
/// an optional suffix such as `rc1` or `+cu118`.
public struct MONAIVersion: Sendable, Comparable, CustomStringConvertible {
    public let major: Int
    public let minor: Int
    public let patch: Int

    public init(major: Int, minor: Int, patch: Int = 0) { (self.major, self.minor, self.patch) = (major, minor, patch) }

    public init?(_ text: String) {
        let core = text.prefix { $0.isNumber || $0 == "." }
        let rest = text.dropFirst(core.count)
        let parts = core.split(separator: ".", omittingEmptySubsequences: false)
        guard (2...3).contains(parts.count), parts.allSatisfy({ !$0.isEmpty && $0.count <= 4 }),
              !core.hasSuffix("."),
              rest.isEmpty || rest.allSatisfy({ $0.isLetter || $0.isNumber || "+-._".contains($0) }),
              rest.isEmpty || rest.first!.isLetter || rest.first == "+" || rest.first == "-" else { return nil }
        let numbers = parts.compactMap { Int($0) }
        guard numbers.count == parts.count else { return nil }
        self.init(major: numbers[0], minor: numbers[1], patch: numbers.count > 2 ? numbers[2] : 0)
    }

    public var description: String { "\(major).\(minor).\(patch)" }

    public static func < (a: MONAIVersion, b: MONAIVersion) -> Bool {
        (a.major, a.minor, a.patch) < (b.major, b.minor, b.patch)
    }
}

/// Strictly typed reading of constructor arguments: a wrong type is an error, never a default.
struct ArgumentReader {
    let arguments: [String: JSONValue]
    init(_ arguments: [String: JSONValue]) { self.arguments = arguments }

    func required(_ key: String) throws(ArchitectureError) -> Int {
        guard arguments[key] != nil else { throw ArchitectureError("\(key) is required") }
        return try integer(key, default: 0)
    }

    func integer(_ key: String, default d: Int) throws(ArchitectureError) -> Int {
        guard let v = arguments[key] else { return d }
        guard let i = v.int, i >= 1, i <= 1 << 20 else { throw ArchitectureError("\(key) must be a positive integer") }
        return i
    }

    /// `count` positive integers; a bare integer stands for all of them when `scalarAllowed`.
    func integers(_ key: String, count: Int, default d: [Int], scalarAllowed: Bool = false) throws(ArchitectureError) -> [Int] {
        guard let v = arguments[key] else { return d }
        if scalarAllowed, v.number != nil { return [Int](repeating: try integer(key, default: 0), count: count) }
        guard let a = v.array, a.count == count, a.allSatisfy({ ($0.int ?? 0) >= 1 && ($0.int ?? 0) <= 1 << 20 }) else {
            throw ArchitectureError("\(key) must be \(count) positive integers")
        }
        return a.map { $0.int! }
    }

    func number(_ key: String, default d: Double) throws(ArchitectureError) -> Double {
        guard let v = arguments[key] else { return d }
        guard let n = v.number, n.isFinite else { throw ArchitectureError("\(key) must be a number") }
        return n
    }

    func bool(_ key: String, default d: Bool) throws(ArchitectureError) -> Bool {
        guard let v = arguments[key] else { return d }
        guard let b = v.bool else { throw ArchitectureError("\(key) must be true or false") }
        return b
    }

    func string(_ key: String, default d: String) throws(ArchitectureError) -> String {
        guard let v = arguments[key] else { return d }
        guard let s = v.string else { throw ArchitectureError("\(key) must be a string") }
        return s
    }
}

extension LayerNorm {
    /// An affine LayerNorm (eps 1e-5) with `weight` and `bias` under `scope`.
    init(_ scope: ParameterScope, width: Int) {
        self.init(width: width, eps: 1e-5, weight: scope.tensor("weight", [width]), bias: scope.tensor("bias", [width]))
    }
}

extension Linear {
    /// A linear layer with `weight` [out, in] (and `bias`) under `scope`.
    init(_ scope: ParameterScope, in fin: Int, out fout: Int, bias: Bool) {
        self.init(inFeatures: fin, outFeatures: fout, weight: scope.tensor("weight", [fout, fin]),
                  bias: bias ? scope.tensor("bias", [fout]) : nil)
    }
}
