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
public struct BasicUNetArchitecture: NetworkArchitecture {
    public static let name = "BasicUNet"

    public let inputChannels: Int
    public let outputChannels: Int
    public let features: [Int]
    public let bias: Bool
    let activation: ActivationSpec
    let norm: NormSpec

    public init(arguments: [String: JSONValue]) throws(ArchitectureError) {
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

    public var parameterShapes: [(key: String, shape: [Int])] {
        var out: [(key: String, shape: [Int])] = []
        func block(_ b: (prefix: String, in: Int, out: Int)) {
            out.append(("\(b.prefix).conv.weight", [b.out, b.in, 3, 3, 3]))
            if bias { out.append(("\(b.prefix).conv.bias", [b.out])) }
            out += norm.parameterShapes(prefix: "\(b.prefix).adn.N", channels: b.out)
            if case .prelu(let n) = activation.kind { out.append(("\(b.prefix).adn.A.weight", [n])) }
        }
        let all = blocks
        for b in all.prefix(10) { block(b) }
        for (i, u) in ups.enumerated() {
            out.append(("upcat_\(u.level).upsample.deconv.weight", [u.in, u.up, 2, 2, 2]))
            out.append(("upcat_\(u.level).upsample.deconv.bias", [u.up]))
            block(all[10 + 2 * i])
            block(all[11 + 2 * i])
        }
        out.append(("final_conv.weight", [outputChannels, features[5], 1, 1, 1]))
        out.append(("final_conv.bias", [outputChannels]))
        return out
    }

    public var classifierWeightKey: String { "final_conv.weight" }

    public func roiProblem(_ roiSize: [Int]) -> String? {
        guard roiSize.count == 3, roiSize.allSatisfy({ $0 > 0 && $0 % 16 == 0 }) else {
            return "roi_size \(roiSize) must have three sizes divisible by 16 (BasicUNet halves the size four times)"
        }
        return nil
    }

    public func build(parameters p: [String: [Float]]) -> any SegmentationNetwork {
        func adn(_ b: (prefix: String, in: Int, out: Int)) -> ConvADN {
            let conv = Conv3d(inChannels: b.in, outChannels: b.out,
                              geometry: ConvGeometry(kernel: [3, 3, 3], padding: [1, 1, 1]),
                              weight: p["\(b.prefix).conv.weight"]!, bias: bias ? p["\(b.prefix).conv.bias"]! : nil)
            let n = "\(b.prefix).adn.N"
            let normLayer: ConvADN.Norm
            if norm.kind == .none {
                normLayer = .none
            } else if !norm.runningStatistics {
                normLayer = .statistics(InstanceNorm3d(channels: b.out, eps: norm.eps,
                                                       weight: norm.affine ? p["\(n).weight"]! : nil,
                                                       bias: norm.affine ? p["\(n).bias"]! : nil))
            } else {
                normLayer = .running(BatchNorm3d(channels: b.out, eps: norm.eps,
                                                 weight: norm.affine ? p["\(n).weight"]! : nil,
                                                 bias: norm.affine ? p["\(n).bias"]! : nil,
                                                 runningMean: p["\(n).running_mean"]!,
                                                 runningVar: p["\(n).running_var"]!))
            }
            let act: Activation
            switch activation.kind {
            case .none: act = .identity
            case .relu: act = .relu
            case .leakyReLU(let s): act = .leakyReLU(negativeSlope: s)
            case .prelu: act = .prelu(weights: p["\(b.prefix).adn.A.weight"]!)
            }
            return ConvADN(conv: conv, norm: normLayer, activation: act)
        }
        let convs = blocks.map(adn)
        func two(_ i: Int) -> TwoConv { TwoConv(conv0: convs[2 * i], conv1: convs[2 * i + 1]) }
        let upsamplers = ups.map { u in
            ConvTranspose3d(inChannels: u.in, outChannels: u.up,
                            geometry: ConvGeometry(kernel: [2, 2, 2], stride: [2, 2, 2]),
                            weight: p["upcat_\(u.level).upsample.deconv.weight"]!,
                            bias: p["upcat_\(u.level).upsample.deconv.bias"]!)
        }
        return BasicUNet(encoder: (0..<5).map(two), upsamplers: upsamplers, decoder: (5..<9).map(two),
                         finalConv: Conv3d(inChannels: features[5], outChannels: outputChannels,
                                           geometry: ConvGeometry(kernel: [1, 1, 1]),
                                           weight: p["final_conv.weight"]!, bias: p["final_conv.bias"]!))
    }
}

/// A BasicUNet with weights. Built by `BasicUNetArchitecture.build`.
///
/// The gradient pass keeps, per Convolution block, one float per output element (x̂ or the
/// convolution output), and the max-pool argmax indices; everything else is freed as soon as
/// the forward pass has used it. Weight gradients are never formed.
public struct BasicUNet: SegmentationNetwork {
    /// conv_0, down_1 … down_4 (TwoConv parts).
    let encoder: [TwoConv]
    /// upcat_4 … upcat_1 deconvolutions.
    let upsamplers: [ConvTranspose3d]
    /// upcat_4 … upcat_1 TwoConv parts.
    let decoder: [TwoConv]
    let finalConv: Conv3d
    private let pool = MaxPool3d(kernel: [2, 2, 2])

    public func forward(_ input: Tensor) -> Tensor {
        var skips: [FeatureMap] = []
        var h = encoder[0].forward([FeatureMap(input)])
        for level in 1..<5 {
            skips.append(h)
            h = encoder[level].forward([maxPool(h).output])
        }
        for level in 0..<4 {
            let skip = skips.removeLast()
            let up = upsample(h, level: level, to: skip.spatial)
            h = decoder[level].forward([skip, up])
        }
        return pointwise(h)
    }

    public func forward(_ input: Tensor, outputGradient: (Tensor) throws -> Tensor?) rethrows
        -> (logits: Tensor, inputGradient: Tensor?) {
        // Forward, recording what the backward pass needs.
        var encoderSaved: [[ConvADN.Saved]] = []
        var poolIndices: [(indices: [Int32], inputShape: [Int])] = []
        var skips: [FeatureMap] = []
        var (h, saved) = encoder[0].forwardSaving([FeatureMap(input)])
        encoderSaved.append(saved)
        for level in 1..<5 {
            skips.append(h)
            let (pooled, indices) = maxPool(h)
            poolIndices.append((indices, h.shape))
            (h, saved) = encoder[level].forwardSaving([pooled])
            encoderSaved.append(saved)
        }
        var decoderSaved: [[ConvADN.Saved]] = []
        var upShapes: [(deconvOutput: [Int], skipChannels: Int, bottomShape: [Int])] = []
        for level in 0..<4 {
            let skip = skips.removeLast()
            let bottom = h.shape
            let up = upsample(h, level: level, to: skip.spatial)
            upShapes.append((upsamplers[level].outputShape(bottom), skip.channels, bottom))
            (h, saved) = decoder[level].forwardSaving([skip, up])
            decoderSaved.append(saved)
        }
        let decoded = h.spatial
        let logits = pointwise(h)
        h = FeatureMap(shape: [0, 0, 0, 0])
        guard let dLogits = try outputGradient(logits) else { return (logits, nil) }
        precondition(dLogits.shape == logits.shape, "output gradient must have the logits' shape")

        // Backward to the input only.
        var g = FeatureMap(shape: [finalConv.inChannels] + decoded)
        var dl = dLogits
        dl.data.withUnsafeMutableBufferPointer {
            finalConv.backwardInput(outputGradient: $0.baseAddress!, inputSize: decoded, inputGradients: [g.slab])
        }
        var skipGradients: [FeatureMap] = []
        for level in (0..<4).reversed() {
            let shapes = upShapes[level]
            let parts = decoder[level].backward(g, saved: decoderSaved.removeLast(),
                                                inputChannels: [shapes.skipChannels, upsamplers[level].outChannels],
                                                inputSize: g.spatial)
            skipGradients.append(parts[0])
            var gUp = parts[1]
            if gUp.spatial != Array(shapes.deconvOutput[1...]) {
                gUp = FeatureMap(ChannelOps.replicatePadEndBackward(gUp.tensor, inputShape: shapes.deconvOutput))
            }
            g = FeatureMap(shape: shapes.bottomShape)
            upsamplers[level].backwardInput(outputGradient: gUp.pointer, outputSize: Array(shapes.deconvOutput[1...]),
                                            inputGradient: g.pointer)
        }
        for level in (1..<5).reversed() {
            let pooledGradient = encoder[level].backward(g, saved: encoderSaved.removeLast(),
                                                         inputChannels: [encoder[level].conv0.conv.inChannels],
                                                         inputSize: g.spatial)[0]
            let (indices, inputShape) = poolIndices.removeLast()
            g = FeatureMap(shape: inputShape)
            var idx = indices
            idx.withUnsafeMutableBufferPointer {
                pool.backward(outputGradient: pooledGradient.pointer, indices: $0.baseAddress!,
                              outputShape: pooledGradient.shape, inputGradient: g.pointer, inputShape: inputShape)
            }
            g.add(skipGradients.removeLast())
        }
        let dInput = encoder[0].backward(g, saved: encoderSaved.removeLast(), inputChannels: [input.shape[0]],
                                         inputSize: Array(input.shape[1...]))[0]
        return (logits, dInput.tensor)
    }

    private func maxPool(_ x: FeatureMap) -> (output: FeatureMap, indices: [Int32]) {
        let out = FeatureMap(shape: pool.outputShape(x.shape))
        var indices = [Int32](repeating: 0, count: out.count)
        indices.withUnsafeMutableBufferPointer {
            pool.forward(input: x.pointer, inputShape: x.shape, output: out.pointer, indices: $0.baseAddress!)
        }
        return (out, indices)
    }

    /// Deconvolution, then MONAI's replicate padding at the end of any axis where the skip
    /// connection is one larger (odd sizes before pooling).
    private func upsample(_ x: FeatureMap, level: Int, to size: [Int]) -> FeatureMap {
        let deconv = upsamplers[level]
        let out = FeatureMap(shape: deconv.outputShape(x.shape))
        deconv.forward(input: x.pointer, inputSize: x.spatial, output: out.pointer)
        if out.spatial == size { return out }
        return FeatureMap(ChannelOps.replicatePadEnd(out.tensor, to: size))
    }

    private func pointwise(_ x: FeatureMap) -> Tensor {
        var logits = Tensor(zeros: [finalConv.outChannels] + x.spatial)
        logits.data.withUnsafeMutableBufferPointer {
            finalConv.forward(inputs: [x.slab], inputSize: x.spatial,
                              outputs: [ChannelSlab(pointer: $0.baseAddress!, channels: finalConv.outChannels)])
        }
        return logits
    }
}
