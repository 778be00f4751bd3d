import Engine
import Foundation

/// One convolution (or transposed convolution) of a network, `count` times in one window.
struct ConvLayer {
    var name: String
    var inChannels: Int
    var outChannels: Int
    var kernel: Int
    var stride: Int
    /// Input grid [D, H, W].
    var size: [Int]
    var transposed = false
    var count = 1

    var geometry: ConvGeometry {
        ConvGeometry(kernel: [kernel, kernel, kernel], stride: [stride, stride, stride],
                     padding: transposed || kernel.isMultiple(of: 2) ? [0, 0, 0] : [kernel / 2, kernel / 2, kernel / 2])
    }

    /// 2 × multiply-adds of one pass (forward, or backward to the input: the same count).
    var flops: Double {
        let taps = Double(kernel * kernel * kernel)
        let voxels = Double(size.reduce(1, *))
        // A transposed convolution does its taps per input voxel, a convolution per output voxel.
        let positions = transposed ? voxels : voxels / pow(Double(stride), 3)
        return 2 * Double(inChannels * outChannels) * taps * positions
    }
}

/// Convolution layers of three networks, each timed alone (forward and backward to the input,
/// seeded random weights and input) against the sgemm throughput of the same two workers,
/// measured just before each layer. Usage: `Benchmarks conv [runs] [basicunet|swin|plainconv]`.
func runConvBenchmarks() {
    let runs = CommandLine.arguments.count > 2 ? max(1, Int(CommandLine.arguments[2]) ?? 1) : 1
    let only = CommandLine.arguments.count > 3 ? CommandLine.arguments[3] : nil
    print("convolution benchmarks: each layer alone, median of \(runs) run(s) after 1 warm-up, "
          + "\(ComputeThreads.current) threads; % = share of the same-run sgemm throughput")
    for (name, layers) in convNetworks() where only == nil || only == name {
        print("\n" + name)
        print("  layer                          in→out  k s  input          forward           backward")
        // Σ time and Σ time × reference throughput, so the network's share weights each layer's
        // own same-moment sgemm reference by its time.
        var total = (flops: 0.0, forward: 0.0, backward: 0.0, forwardWork: 0.0, backwardWork: 0.0)
        for layer in layers {
            // The reference is measured next to each layer: the machine's load drifts.
            let peak = sgemmPeakGFLOPS()
            let (forward, backward) = time(layer, runs: runs)
            let f = Double(layer.count)
            total.flops += layer.flops * f
            total.forward += forward * f
            total.backward += backward * f
            total.forwardWork += forward * f * peak
            total.backwardWork += backward * f * peak
            let size = layer.size.map(String.init).joined(separator: "×")
            print("  " + layer.name.padding(toLength: 28, withPad: " ", startingAt: 0) + String(
                format: " %4d→%-4d %d %d  ", layer.inChannels, layer.outChannels, layer.kernel, layer.stride)
                + size.padding(toLength: 12, withPad: " ", startingAt: 0) + String(format: " %7.1f GF/s %3.0f%%  %7.1f GF/s %3.0f%%%@",
                         layer.flops / forward / 1e9, 100 * layer.flops / forward / 1e9 / peak,
                         layer.flops / backward / 1e9, 100 * layer.flops / backward / 1e9 / peak,
                         layer.count > 1 ? " ×\(layer.count)" : ""))
        }
        print(String(format: "  all layers: %.0f GFLOP per pass; forward %.1f s = %.0f%% of sgemm, backward %.1f s = %.0f%%",
                     total.flops / 1e9, total.forward, 100 * total.flops / 1e9 / total.forwardWork,
                     total.backward, 100 * total.flops / 1e9 / total.backwardWork))
    }
}

private func time(_ layer: ConvLayer, runs: Int) -> (Double, Double) {
    var generator = BenchmarkRNG(state: 11)
    let taps = layer.kernel * layer.kernel * layer.kernel
    let bound = Float(1 / Double(layer.inChannels * taps).squareRoot())
    let weight = (0..<(layer.inChannels * layer.outChannels * taps)).map { _ in generator.uniform(-bound, bound) }
    let bias = (0..<layer.outChannels).map { _ in generator.uniform(-bound, bound) }
    let input = Tensor(shape: [layer.inChannels] + layer.size,
                       data: (0..<(layer.inChannels * layer.size.reduce(1, *))).map { _ in generator.uniform(0, 1) })
    if layer.transposed {
        let conv = ConvTranspose3d(inChannels: layer.inChannels, outChannels: layer.outChannels,
                                   geometry: layer.geometry, weight: weight, bias: bias)
        let gradient = Tensor(zeros: conv.outputShape(input.shape))
        return (networkMedianSeconds(runs) { _ = conv.forward(input) },
                networkMedianSeconds(runs) { _ = conv.backwardInput(gradient, inputShape: input.shape) })
    }
    let conv = Conv3d(inChannels: layer.inChannels, outChannels: layer.outChannels, geometry: layer.geometry,
                      weight: weight, bias: bias)
    let gradient = Tensor(zeros: conv.outputShape(input.shape))
    return (networkMedianSeconds(runs) { _ = conv.forward(input) },
            networkMedianSeconds(runs) { _ = conv.backwardInput(gradient, inputShape: input.shape) })
}

/// The layers of one window of each network, from their MONAI / dynamic_network_architectures
/// definitions.
private func convNetworks() -> [(String, [ConvLayer])] {
    // BasicUNet (16, 16, 32, 64, 128, 16), 15 classes, the sample model's 128×112×112 window.
    let window = [128, 112, 112]
    func level(_ l: Int) -> [Int] { window.map { $0 >> l } }
    let basic: [ConvLayer] = [
        ConvLayer(name: "conv_0.conv_0", inChannels: 1, outChannels: 16, kernel: 3, stride: 1, size: level(0)),
        ConvLayer(name: "conv_0.conv_1", inChannels: 16, outChannels: 16, kernel: 3, stride: 1, size: level(0)),
        ConvLayer(name: "down_1", inChannels: 16, outChannels: 16, kernel: 3, stride: 1, size: level(1), count: 2),
        ConvLayer(name: "down_2.conv_0", inChannels: 16, outChannels: 32, kernel: 3, stride: 1, size: level(2)),
        ConvLayer(name: "down_2.conv_1", inChannels: 32, outChannels: 32, kernel: 3, stride: 1, size: level(2)),
        ConvLayer(name: "down_3.conv_0", inChannels: 32, outChannels: 64, kernel: 3, stride: 1, size: level(3)),
        ConvLayer(name: "down_3.conv_1", inChannels: 64, outChannels: 64, kernel: 3, stride: 1, size: level(3)),
        ConvLayer(name: "down_4.conv_0", inChannels: 64, outChannels: 128, kernel: 3, stride: 1, size: level(4)),
        ConvLayer(name: "down_4.conv_1", inChannels: 128, outChannels: 128, kernel: 3, stride: 1, size: level(4)),
        ConvLayer(name: "upcat_4.deconv", inChannels: 128, outChannels: 64, kernel: 2, stride: 2, size: level(4),
                  transposed: true),
        ConvLayer(name: "upcat_4.conv_0", inChannels: 128, outChannels: 64, kernel: 3, stride: 1, size: level(3)),
        ConvLayer(name: "upcat_4.conv_1", inChannels: 64, outChannels: 64, kernel: 3, stride: 1, size: level(3)),
        ConvLayer(name: "upcat_3.deconv", inChannels: 64, outChannels: 32, kernel: 2, stride: 2, size: level(3),
                  transposed: true),
        ConvLayer(name: "upcat_3.conv_0", inChannels: 64, outChannels: 32, kernel: 3, stride: 1, size: level(2)),
        ConvLayer(name: "upcat_3.conv_1", inChannels: 32, outChannels: 32, kernel: 3, stride: 1, size: level(2)),
        ConvLayer(name: "upcat_2.deconv", inChannels: 32, outChannels: 16, kernel: 2, stride: 2, size: level(2),
                  transposed: true),
        ConvLayer(name: "upcat_2.conv_0", inChannels: 32, outChannels: 16, kernel: 3, stride: 1, size: level(1)),
        ConvLayer(name: "upcat_2.conv_1", inChannels: 16, outChannels: 16, kernel: 3, stride: 1, size: level(1)),
        ConvLayer(name: "upcat_1.deconv", inChannels: 16, outChannels: 16, kernel: 2, stride: 2, size: level(1),
                  transposed: true),
        ConvLayer(name: "upcat_1.conv_0", inChannels: 32, outChannels: 16, kernel: 3, stride: 1, size: level(0)),
        ConvLayer(name: "upcat_1.conv_1", inChannels: 16, outChannels: 16, kernel: 3, stride: 1, size: level(0)),
        ConvLayer(name: "final_conv", inChannels: 16, outChannels: 15, kernel: 1, stride: 1, size: level(0)),
    ]
    // SwinUNETR feature 48, use_v2, 17 classes, 96³: the convolutional encoder and decoder
    // (UnetResBlocks: two 3³ convolutions and, where the channels change, a 1³ residual projection).
    func cube(_ l: Int) -> [Int] { [96 >> l, 96 >> l, 96 >> l] }
    func resBlock(_ name: String, _ cin: Int, _ cout: Int, _ l: Int) -> [ConvLayer] {
        var block = [
            ConvLayer(name: name + ".conv1", inChannels: cin, outChannels: cout, kernel: 3, stride: 1, size: cube(l)),
            ConvLayer(name: name + ".conv2", inChannels: cout, outChannels: cout, kernel: 3, stride: 1, size: cube(l)),
        ]
        if cin != cout {
            block.append(ConvLayer(name: name + ".conv3", inChannels: cin, outChannels: cout, kernel: 1, stride: 1,
                                   size: cube(l)))
        }
        return block
    }
    func upBlock(_ name: String, _ cin: Int, _ cout: Int, _ l: Int) -> [ConvLayer] {
        [ConvLayer(name: name + ".transp_conv", inChannels: cin, outChannels: cout, kernel: 2, stride: 2,
                   size: cube(l + 1), transposed: true)] + resBlock(name, 2 * cout, cout, l)
    }
    let f = 48
    var swin = [ConvLayer(name: "patch_embed", inChannels: 1, outChannels: f, kernel: 2, stride: 2, size: cube(0))]
    swin += resBlock("layers1c", f, f, 1) + resBlock("layers2c", 2 * f, 2 * f, 2)
    swin += resBlock("layers3c", 4 * f, 4 * f, 3) + resBlock("layers4c", 8 * f, 8 * f, 4)
    swin += resBlock("encoder1", 1, f, 0) + resBlock("encoder2", f, f, 1) + resBlock("encoder3", 2 * f, 2 * f, 2)
    swin += resBlock("encoder4", 4 * f, 4 * f, 3) + resBlock("encoder10", 16 * f, 16 * f, 5)
    swin += upBlock("decoder5", 16 * f, 8 * f, 4) + upBlock("decoder4", 8 * f, 4 * f, 3)
    swin += upBlock("decoder3", 4 * f, 2 * f, 2) + upBlock("decoder2", 2 * f, f, 1) + upBlock("decoder1", f, f, 0)
    swin.append(ConvLayer(name: "out", inChannels: f, outChannels: 17, kernel: 1, stride: 1, size: cube(0)))
    // A TotalSegmentator-sized nnU-Net PlainConvUNet: 6 stages of 32, 64, 128, 256, 320, 320
    // features, strides 1, 2, 2, 2, 2, 2, two 3³ convolutions per stage, 128³ patch, 25 classes.
    let features = [32, 64, 128, 256, 320, 320]
    func patch(_ l: Int) -> [Int] { [128 >> l, 128 >> l, 128 >> l] }
    var plain: [ConvLayer] = []
    for s in 0..<6 {
        plain.append(ConvLayer(name: "encoder.stages.\(s).conv0", inChannels: s == 0 ? 1 : features[s - 1],
                               outChannels: features[s], kernel: 3, stride: s == 0 ? 1 : 2,
                               size: patch(max(s - 1, 0))))
        plain.append(ConvLayer(name: "encoder.stages.\(s).conv1", inChannels: features[s], outChannels: features[s],
                               kernel: 3, stride: 1, size: patch(s)))
    }
    for s in stride(from: 4, through: 0, by: -1) {
        plain.append(ConvLayer(name: "decoder.transpconvs.\(4 - s)", inChannels: features[s + 1],
                               outChannels: features[s], kernel: 2, stride: 2, size: patch(s + 1), transposed: true))
        plain.append(ConvLayer(name: "decoder.stages.\(4 - s).conv0", inChannels: 2 * features[s],
                               outChannels: features[s], kernel: 3, stride: 1, size: patch(s)))
        plain.append(ConvLayer(name: "decoder.stages.\(4 - s).conv1", inChannels: features[s],
                               outChannels: features[s], kernel: 3, stride: 1, size: patch(s)))
    }
    plain.append(ConvLayer(name: "decoder.seg_layers.4", inChannels: 32, outChannels: 25, kernel: 1, stride: 1,
                           size: patch(0)))
    return [("basicunet", basic), ("swin", swin), ("plainconv", plain)]
}
