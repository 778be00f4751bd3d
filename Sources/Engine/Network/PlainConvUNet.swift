import Foundation

/// nnU-Net's `PlainConvUNet` (dynamic_network_architectures 0.4.4), built from the constructor
/// arguments as plans.json gives them (`arch_kwargs` + `input_channels`, `num_classes`).
///
/// Encoder stage s = `n_conv_per_stage[s]` ConvDropoutNormReLU blocks, the first strided by
/// `strides[s]` (`encoder.stages.{s}.0.convs.{c}.{conv,norm}`); its output is skip s. The
/// decoder is `NNUNetDecoder`. The `.all_modules.` and `decoder.encoder.` aliases a state_dict
/// also holds share storage with these keys and are not part of the tree.
public struct PlainConvUNetArchitecture: ModuleTreeArchitecture {
    public static let name = "PlainConvUNet"

    let layers: NNUNetLayers
    let encoderConvs: [Int]

    public init(arguments: [String: JSONValue], monaiVersion: MONAIVersion?) throws(ArchitectureError) {
        layers = try NNUNetLayers(arguments, own: ["n_conv_per_stage", "nonlin_first"], className: Self.name)
        encoderConvs = try NNUNetLayers.perStage(arguments, "n_conv_per_stage", layers.stageCount)
        if arguments["nonlin_first"]?.bool == true {
            throw ArchitectureError("nonlin_first = true is not supported (nnU-Net never sets it)")
        }
    }

    public var inputChannels: Int { layers.inputChannels }
    public var outputChannels: Int { layers.classes }
    public var classifierWeightKey: String { "decoder.seg_layers.\(layers.stageCount - 2).weight" }

    public func roiProblem(_ roiSize: [Int]) -> String? { layers.patchProblem(roiSize, className: Self.name) }

    func makeNetwork(_ scope: ParameterScope) -> any SegmentationNetwork {
        var cin = layers.inputChannels
        let stages = (0..<layers.stageCount).map { s in
            let cout = layers.features[s]
            let convs = (0..<encoderConvs[s]).map { c in
                layers.convNormNonlin(scope["encoder"]["stages"][s][0]["convs"][c], c == 0 ? cin : cout, cout,
                                      kernel: layers.kernels[s], stride: c == 0 ? layers.strides[s] : [1, 1, 1])
            }
            cin = cout
            return convs
        }
        return PlainConvUNet(stages: stages, decoder: layers.decoder(scope["decoder"]))
    }
}

/// A PlainConvUNet with weights.
public struct PlainConvUNet: TapedNetwork {
    let stages: [[ConvADN]]
    let decoder: NNUNetDecoder

    func run(_ input: Var, _ g: Graph) -> Var {
        var skips: [Var] = []
        var x = input
        for stage in stages {
            for conv in stage { x = g.convADN([x], conv) }
            skips.append(x)
        }
        return decoder.run(skips, g)
    }
}
