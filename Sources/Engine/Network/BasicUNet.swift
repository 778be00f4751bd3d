import Foundation

/// MONAI `BasicUNet` (monai.networks.nets.basic_unet) constructor arguments, with MONAI's
/// names and defaults:
///
///     BasicUNet(spatial_dims=3, in_channels=1, out_channels=2, features=(32, 32, 64, 128, 256, 32),
///               act=("LeakyReLU", {"negative_slope": 0.1, "inplace": True}),
///               norm=("instance", {"affine": True}), bias=True, dropout=0.0, upsample="deconv")
///
/// Module tree (state_dict prefixes): `conv_0` TwoConv; `down_1…down_4` = MaxPool3d(2) then
/// TwoConv (`down_i.convs`); `upcat_4…upcat_1` = ConvTranspose3d(k=2, s=2)
/// (`upcat_i.upsample.deconv`), replicate-pad to the skip size, cat([skip, up]), TwoConv
/// (`upcat_i.convs`); `final_conv` 1×1×1 Conv3d. Each TwoConv block is `conv_j.conv` then
/// `conv_j.adn` with N (norm), D (dropout), A (activation) in that order. UpCat halves the
/// channels in the upsampling except `upcat_1` (`halves=False`).
public struct BasicUNetArchitecture: ModuleTreeArchitecture {
    public static let name = "BasicUNet"

    public let inputChannels: Int
    public let outputChannels: Int
    public let features: [Int]
    public let bias: Bool
    let activation: ActivationSpec
    let norm: NormSpec

    public init(arguments: [String: JSONValue], monaiVersion: MONAIVersion?) throws(ArchitectureError) {
        let known: Set<String> = ["spatial_dims", "in_channels", "out_channels", "features", "act", "norm",
                                  "bias", "dropout", "upsample"]
        if let bad = arguments.keys.sorted().first(where: { !known.contains($0) }) {
            throw ArchitectureError("BasicUNet has no argument '\(bad)'")
        }
        func integer(_ key: String, _ d: Int) throws(ArchitectureError) -> Int {
            guard let v = arguments[key] else { return d }
            guard let i = v.int, (1...4096).contains(i) else { throw ArchitectureError("\(key) must be an integer in 1…4096") }
            return i
        }
        let dims = try integer("spatial_dims", 3)
        guard dims == 3 else { throw ArchitectureError("spatial_dims \(dims) is not supported; only 3-D networks are") }
        inputChannels = try integer("in_channels", 1)
        outputChannels = try integer("out_channels", 2)
        if let f = arguments["features"] {
            guard let a = f.array, a.count == 6, a.allSatisfy({ ($0.int ?? 0) >= 1 }) else {
                throw ArchitectureError("features must be six positive integers")
            }
            features = a.map { $0.int! }
            if let problem = Self.featureProblem(features) { throw ArchitectureError(problem) }
        } else {
            features = [32, 32, 64, 128, 256, 32]
        }
        activation = try ActivationSpec(arguments["act"]
            ?? .array([.string("LeakyReLU"), .object(["negative_slope": .number(0.1), "inplace": .bool(true)])]))
        norm = try NormSpec(arguments["norm"] ?? .array([.string("instance"), .object(["affine": .bool(true)])]))
        if let b = arguments["bias"] {
            guard let value = b.bool else { throw ArchitectureError("bias must be true or false") }
            bias = value
        } else {
            bias = true
        }
        try DropoutSpec.validate(arguments["dropout"] ?? .number(0))
        let upsample = arguments["upsample"] ?? .string("deconv")
        guard let mode = upsample.string else { throw ArchitectureError("upsample must be a string") }
        guard mode == "deconv" else {
            throw ArchitectureError("upsample '\(mode)' is not supported; only 'deconv' is")
        }
        if case .prelu(let n) = activation.kind, n != 1, !blocks.allSatisfy({ $0.out == n }) {
            throw ArchitectureError("prelu num_parameters \(n) must be 1 or the channel count of every block")
        }
    }

    /// The decoder's deconvolutions halve features[4], [3] and [2] (MONAI `UpCat(halves=True)`),
    /// so those must be at least 2; every channel count is capped so weight sizes stay finite.
    static func featureProblem(_ features: [Int]) -> String? {
        if let big = features.first(where: { $0 > 4096 }) { return "features entry \(big) exceeds 4096 channels" }
        guard features[2...4].allSatisfy({ $0 >= 2 }) else {
            return "features[2], [3] and [4] must be at least 2 (the decoder halves them), got \(features)"
        }
        return nil
    }

    /// Every Convolution block: state_dict prefix, input and output channels.
    var blocks: [(prefix: String, in: Int, out: Int)] {
        let f = features
        func two(_ p: String, _ i: Int, _ o: Int) -> [(prefix: String, in: Int, out: Int)] {
            [("\(p).conv_0", i, o), ("\(p).conv_1", o, o)]
        }
        var out = two("conv_0", inputChannels, f[0])
        for (i, (a, b)) in [(f[0], f[1]), (f[1], f[2]), (f[2], f[3]), (f[3], f[4])].enumerated() {
            out += two("down_\(i + 1).convs", a, b)
        }
        for u in ups { out += two("upcat_\(u.level).convs", u.cat + u.up, u.out) }
        return out
    }

    /// UpCat blocks from the bottom: level, channels in, upsampled channels, skip channels, out.
    var ups: [(level: Int, in: Int, up: Int, cat: Int, out: Int)] {
        let f = features
        return [(4, f[4], f[4] / 2, f[3], f[3]), (3, f[3], f[3] / 2, f[2], f[2]),
                (2, f[2], f[2] / 2, f[1], f[1]), (1, f[1], f[1], f[0], f[5])]
    }

    public var classifierWeightKey: String { "final_conv.weight" }

    public func roiProblem(_ roiSize: [Int]) -> String? {
        guard roiSize.count == 3, roiSize.allSatisfy({ $0 > 0 && $0 % 16 == 0 }) else {
            return "roi_size \(roiSize) must have three sizes divisible by 16 (BasicUNet halves the size four times)"
        }
        return nil
    }

    /// The module tree; `scope` names every tensor by its MONAI state_dict key.
    func makeNetwork(_ scope: ParameterScope) -> any SegmentationNetwork {
        func convolution(_ scope: ParameterScope, _ cin: Int, _ cout: Int) -> ConvADN {
            ConvADN(conv: Conv3d(scope["conv"], in: cin, out: cout,
                                 geometry: ConvGeometry(kernel: [3, 3, 3], padding: [1, 1, 1]), bias: bias),
                    norm: ConvADN.Norm(norm, scope["adn"]["N"], channels: cout),
                    activation: Activation(activation, scope["adn"]["A"]))
        }
        func twoConv(_ scope: ParameterScope, _ cin: Int, _ cout: Int) -> TwoConv {
            TwoConv(conv0: convolution(scope["conv_0"], cin, cout), conv1: convolution(scope["conv_1"], cout, cout))
        }
        let f = features
        let encoder = [twoConv(scope["conv_0"], inputChannels, f[0])]
            + (1...4).map { twoConv(scope["down_\($0)"]["convs"], f[$0 - 1], f[$0]) }
        let decoder = ups.map { u in
            UpCat(deconv: ConvTranspose3d(scope["upcat_\(u.level)"]["upsample"]["deconv"], in: u.in, out: u.up,
                                          geometry: ConvGeometry(kernel: [2, 2, 2], stride: [2, 2, 2]), bias: true),
                  convs: twoConv(scope["upcat_\(u.level)"]["convs"], u.cat + u.up, u.out))
        }
        let finalConv = Conv3d(scope["final_conv"], in: f[5], out: outputChannels,
                               geometry: ConvGeometry(kernel: [1, 1, 1]), bias: true)
        return BasicUNet(encoder: encoder, decoder: decoder, finalConv: finalConv)
    }
}

/// MONAI `TwoConv`: two `Convolution` blocks with 3×3×3 kernels and padding 1.
struct TwoConv: Sendable {
    let conv0: ConvADN
    let conv1: ConvADN

    func run(_ inputs: [Var], _ g: Graph) -> Var {
        g.convADN([g.convADN(inputs, conv0)], conv1)
    }
}

/// MONAI `UpCat` with deconvolution upsampling: deconvolve, replicate-pad to the skip's size,
/// then TwoConv over cat([skip, upsampled]).
struct UpCat: Sendable {
    let deconv: ConvTranspose3d
    let convs: TwoConv

    func run(_ x: Var, skip: Var, _ g: Graph) -> Var {
        let up = g.replicatePadEnd(g.deconv(x, deconv), to: skip.value.spatial)
        return convs.run([skip, up], g)
    }
}

/// A BasicUNet with weights. Built by `BasicUNetArchitecture`. The gradient pass keeps, per
/// Convolution block, one float per output element and, per pooling, the argmax indices.
public struct BasicUNet: TapedNetwork {
    /// conv_0, down_1 … down_4.
    let encoder: [TwoConv]
    /// upcat_4 … upcat_1.
    let decoder: [UpCat]
    let finalConv: Conv3d
    private let pool = MaxPool3d(kernel: [2, 2, 2])

    func run(_ input: Var, _ g: Graph) -> Var {
        var skips: [Var] = []
        var h = encoder[0].run([input], g)
        for level in 1..<5 {
            skips.append(h)
            h = encoder[level].run([g.maxPool(h, pool)], g)
        }
        for up in decoder {
            h = up.run(h, skip: skips.removeLast(), g)
        }
        return g.conv([h], finalConv)
    }
}
