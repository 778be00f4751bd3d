import Foundation

/// nnU-Net's `ResidualEncoderUNet` (dynamic_network_architectures 0.4.4) with `BasicBlockD`
/// blocks, built from the constructor arguments as plans.json gives them.
///
/// Stem `encoder.stem.convs.0` = ConvDropoutNormReLU(in → stem_channels, stride 1). Stage s =
/// `n_blocks_per_stage[s]` BasicBlockD (`encoder.stages.{s}.blocks.{b}`), the first strided:
///
///     out = nonlin( IN(conv2( nonlin(IN(conv1_stride(x))) )) + skip(x) )
///
/// where skip is the identity, or AvgPool3d(k = s = stride) when strided followed by a bias-free
/// 1×1×1 conv + IN when the channels change (`skip.1`, or `skip.0` without the pool). The
/// decoder is the plain `NNUNetDecoder`.
public struct ResidualEncoderUNetArchitecture: ModuleTreeArchitecture {
    public static let name = "ResidualEncoderUNet"

    let layers: NNUNetLayers
    let blocks: [Int]
    let stemChannels: Int

    public init(arguments: [String: JSONValue], monaiVersion: MONAIVersion?) throws(ArchitectureError) {
        layers = try NNUNetLayers(arguments, own: ["n_blocks_per_stage", "block", "bottleneck_channels", "stem_channels"],
                                  className: Self.name)
        blocks = try NNUNetLayers.perStage(arguments, "n_blocks_per_stage", layers.stageCount)
        let block = try NNUNetLayers.className(arguments["block"], "block") ?? "BasicBlockD"
        guard block == "BasicBlockD" else {
            throw ArchitectureError("block '\(block)' is not supported; only BasicBlockD is")
        }
        if let b = arguments["bottleneck_channels"], b != .null {
            throw ArchitectureError("bottleneck_channels is only used by BottleneckD, which is not supported")
        }
        switch arguments["stem_channels"] {
        case nil, .null?: stemChannels = layers.features[0]
        case let v?:
            guard let i = v.int, i >= 1 else { throw ArchitectureError("stem_channels must be a positive integer or null") }
            stemChannels = i
        }
    }

    public var inputChannels: Int { layers.inputChannels }
    public var outputChannels: Int { layers.classes }
    public var classifierWeightKey: String { "decoder.seg_layers.\(layers.stageCount - 2).weight" }

    public func roiProblem(_ roiSize: [Int]) -> String? { layers.patchProblem(roiSize, className: Self.name) }

    func makeNetwork(_ scope: ParameterScope) -> any SegmentationNetwork {
        let stem = layers.convNormNonlin(scope["encoder"]["stem"]["convs"][0], layers.inputChannels, stemChannels,
                                         kernel: layers.kernels[0], stride: [1, 1, 1])
        var cin = stemChannels
        let stages = (0..<layers.stageCount).map { s in
            let cout = layers.features[s]
            let stage = (0..<blocks[s]).map { b in
                block(scope["encoder"]["stages"][s]["blocks"][b], b == 0 ? cin : cout, cout,
                      kernel: layers.kernels[s], stride: b == 0 ? layers.strides[s] : [1, 1, 1])
            }
            cin = cout
            return stage
        }
        return ResidualEncoderUNet(stem: stem, stages: stages, decoder: layers.decoder(scope["decoder"]))
    }

    private func block(_ scope: ParameterScope, _ cin: Int, _ cout: Int, kernel: [Int], stride: [Int]) -> BasicBlockD {
        let conv1 = layers.convNormNonlin(scope["conv1"], cin, cout, kernel: kernel, stride: stride)
        let conv2 = layers.convNormNonlin(scope["conv2"], cout, cout, kernel: kernel, stride: [1, 1, 1], nonlinear: false)
        let strided = stride != [1, 1, 1]
        let projection = cin == cout ? nil
            : layers.convNormNonlin(scope["skip"][strided ? 1 : 0], cin, cout, kernel: [1, 1, 1], stride: [1, 1, 1],
                                    bias: false, nonlinear: false)
        return BasicBlockD(conv1: conv1, conv2: conv2, pool: strided ? AvgPool3d(kernel: stride) : nil,
                           projection: projection, nonlin: layers.nonlin)
    }
}

/// dynamic_network_architectures' `BasicBlockD` (ResNet-D): the skip averages before it projects.
struct BasicBlockD: Sendable {
    let conv1: ConvADN
    let conv2: ConvADN
    let pool: AvgPool3d?
    let projection: ConvADN?
    let nonlin: ActivationSpec.Kind

    func run(_ x: Var, _ g: Graph) -> Var {
        var skip = x
        if let pool { skip = g.avgPool(skip, pool) }
        if let projection { skip = g.convADN([skip], projection) }
        let out = g.convADN([g.convADN([x], conv1)], conv2)
        switch nonlin {
        case .leakyReLU(let s): return g.addLeakyReLU(out, skip, negativeSlope: s)
        case .relu: return g.addLeakyReLU(out, skip, negativeSlope: 0)
        default: return g.add(out, skip)
        }
    }
}

/// A ResidualEncoderUNet with weights.
public struct ResidualEncoderUNet: TapedNetwork {
    let stem: ConvADN
    let stages: [[BasicBlockD]]
    let decoder: NNUNetDecoder

    func run(_ input: Var, _ g: Graph) -> Var {
        var x = g.convADN([input], stem)
        var skips: [Var] = []
        for stage in stages {
            for block in stage { x = block.run(x, g) }
            skips.append(x)
        }
        return decoder.run(skips, g)
    }
}
