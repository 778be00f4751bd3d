import Foundation

/// MONAI `UNet` (monai.networks.nets.unet) constructor arguments, with MONAI's names and
/// defaults (ARCHITECTURES.md §3.1):
///
///     UNet(spatial_dims, in_channels, out_channels, channels, strides, kernel_size=3,
///          up_kernel_size=3, num_res_units=0, act="PRELU", norm="INSTANCE", dropout=0.0,
///          bias=True, adn_ordering="NDA")
///
/// Module tree: level i is `Sequential(down, SkipConnection(sub), up)` at `model` (top) and
/// `…1.submodule` below; the bottom layer is the last `submodule`. The skip joins
/// cat([down output, sub output]) — skip first. Down: a strided `Convolution` (`conv`, `adn.N`,
/// `adn.A`) or, with residual units, a `ResidualUnit` (`conv.unitK`, `residual`). Up: a transposed
/// `Convolution` (k = up_kernel_size, stride s, padding (k − 1)/2, output padding s − 1, so the
/// size is multiplied by s exactly), followed with residual units by a one-unit `ResidualUnit`.
/// At the top the last convolution has no norm or activation.
public struct UNetArchitecture: ModuleTreeArchitecture {
    public static let name = "UNet"

    public let inputChannels: Int
    public let outputChannels: Int
    public let channels: [Int]
    /// Per level and axis; only the first channels.count − 1 entries of `strides` are used.
    public let strides: [[Int]]
    public let kernelSize: [Int]
    public let upKernelSize: [Int]
    public let residualUnits: Int
    public let bias: Bool
    let activation: ActivationSpec
    let norm: NormSpec

    public init(arguments: [String: JSONValue], monaiVersion: MONAIVersion?) throws(ArchitectureError) {
        let known: Set<String> = ["spatial_dims", "in_channels", "out_channels", "channels", "strides", "kernel_size",
                                  "up_kernel_size", "num_res_units", "act", "norm", "dropout", "bias", "adn_ordering"]
        if let bad = arguments.keys.sorted().first(where: { !known.contains($0) }) {
            throw ArchitectureError("UNet has no argument '\(bad)'")
        }
        let args = ArgumentReader(arguments)
        guard try args.required("spatial_dims") == 3 else {
            throw ArchitectureError("spatial_dims must be 3; only 3-D networks are supported")
        }
        inputChannels = try args.required("in_channels")
        outputChannels = try args.required("out_channels")
        guard let channelValues = arguments["channels"]?.array, channelValues.count >= 2,
              channelValues.allSatisfy({ ($0.int ?? 0) >= 1 && ($0.int ?? 0) <= 4096 }) else {
            throw ArchitectureError("channels must list at least two channel counts in 1…4096")
        }
        channels = channelValues.map { $0.int! }
        guard let strideValues = arguments["strides"]?.array, strideValues.count >= channels.count - 1 else {
            throw ArchitectureError("strides must list at least \(channels.count - 1) strides (one per level below the top)")
        }
        var strides: [[Int]] = []
        for value in strideValues.prefix(channels.count - 1) {
            guard let s = Self.perAxis(value), s.allSatisfy({ $0 <= 16 }) else {
                throw ArchitectureError("strides entries must be an integer in 1…16 or three of them")
            }
            strides.append(s)
        }
        self.strides = strides
        kernelSize = try Self.oddKernel(arguments["kernel_size"], "kernel_size")
        upKernelSize = try Self.oddKernel(arguments["up_kernel_size"], "up_kernel_size")
        switch arguments["num_res_units"] {
        case nil: residualUnits = 0
        case let v?:
            guard let n = v.int, (0...16).contains(n) else { throw ArchitectureError("num_res_units must be an integer in 0…16") }
            residualUnits = n
        }
        activation = try ActivationSpec(arguments["act"] ?? .string("PRELU"))
        if case .prelu(let n) = activation.kind, n != 1 {
            throw ArchitectureError("act: prelu num_parameters \(n) is not supported; UNet's layers differ in "
                + "channel count, so only the shared slope (1) is")
        }
        norm = try NormSpec(arguments["norm"] ?? .string("INSTANCE"))
        try DropoutSpec.validate(arguments["dropout"] ?? .number(0))
        bias = try args.bool("bias", default: true)
        let ordering = try args.string("adn_ordering", default: "NDA")
        guard ordering.uppercased() == "NDA" else {
            throw ArchitectureError("adn_ordering '\(ordering)' is not supported; only \"NDA\" is")
        }
    }

    /// An integer (all three axes) or three integers, each ≥ 1.
    static func perAxis(_ value: JSONValue) -> [Int]? {
        if let i = value.int { return i >= 1 ? [i, i, i] : nil }
        guard let a = value.array, a.count == 3, a.allSatisfy({ ($0.int ?? 0) >= 1 }) else { return nil }
        return a.map { $0.int! }
    }

    /// MONAI's `same_padding` only exists for odd kernels.
    static func oddKernel(_ value: JSONValue?, _ key: String) throws(ArchitectureError) -> [Int] {
        guard let value else { return [3, 3, 3] }
        guard let k = perAxis(value), k.allSatisfy({ $0 % 2 == 1 && $0 <= 15 }) else {
            throw ArchitectureError("\(key) must be an odd integer in 1…15 or three of them")
        }
        return k
    }

    /// The top up layer ends the network. Without residual units it is a transposed convolution
    /// (weight [Cin, Cout, …]), so the bias carries the class count; without a bias either, no
    /// key is named and the shape check lists the mismatch.
    public var classifierWeightKey: String {
        residualUnits > 0 ? "model.2.1.conv.unit0.conv.weight" : "model.2.conv.bias"
    }

    /// Each level divides the size by its stride and the transposed convolution multiplies it
    /// back, so the size must be divisible by the product of the strides; the bottom needs more
    /// than one voxel when the norm uses the input's statistics (PyTorch refuses one).
    public func roiProblem(_ roiSize: [Int]) -> String? {
        let total = (0..<3).map { axis in strides.reduce(1) { $0 * $1[axis] } }
        guard roiSize.count == 3, zip(roiSize, total).allSatisfy({ $0 > 0 && $0 % $1 == 0 }) else {
            return "roi_size \(roiSize) must be divisible by \(total), the product of the UNet strides"
        }
        if norm.kind == .instance || (norm.kind == .batch && !norm.runningStatistics),
           zip(roiSize, total).map({ $0 / $1 }).reduce(1, *) == 1 {
            return "roi_size \(roiSize) leaves a one-voxel bottom layer; instance norm needs more than one voxel"
        }
        return nil
    }

    /// Built in state_dict order: the down layers from the top, the bottom, the up layers from
    /// the bottom.
    func makeNetwork(_ scope: ParameterScope) -> any SegmentationNetwork {
        let depth = channels.count - 1
        var levels = [scope["model"]]
        for _ in 1..<depth { levels.append(levels.last![1]["submodule"]) }
        let downs = (0..<depth).map { i in
            downLayer(levels[i][0], i == 0 ? inputChannels : channels[i - 1], channels[i], stride: strides[i])
        }
        let bottom = downLayer(levels[depth - 1][1]["submodule"], channels[depth - 1], channels[depth],
                               stride: [1, 1, 1])
        let ups = (0..<depth).reversed().map { i in
            upLayer(levels[i][2], i + 1 < depth ? 2 * channels[i] : channels[i] + channels[i + 1],
                    i == 0 ? outputChannels : channels[i - 1], stride: strides[i], top: i == 0)
        }
        return UNet(downs: downs, bottom: bottom, ups: ups.reversed())
    }

    /// MONAI `Convolution` (conv → norm → dropout → activation, or the conv alone).
    private func convolution(_ scope: ParameterScope, _ cin: Int, _ cout: Int, kernel: [Int], stride: [Int],
                             convOnly: Bool = false) -> ConvADN {
        let geometry = ConvGeometry(kernel: kernel, stride: stride, padding: kernel.map { ($0 - 1) / 2 })
        let conv = Conv3d(scope["conv"], in: cin, out: cout, geometry: geometry, bias: bias)
        if convOnly { return ConvADN(conv: conv, norm: .none, activation: .identity) }
        return ConvADN(conv: conv, norm: ConvADN.Norm(norm, scope["adn"]["N"], channels: cout),
                       activation: Activation(activation, scope["adn"]["A"]))
    }

    /// MONAI `ResidualUnit`: `units` Convolutions (the first strided), plus the input through a
    /// strided convolution (kernel as the units), a 1×1×1 convolution (channels change only) or
    /// the identity.
    private func residualUnit(_ scope: ParameterScope, _ cin: Int, _ cout: Int, stride: [Int], units: Int,
                              lastConvOnly: Bool) -> ResidualUnit {
        let convs = (0..<units).map { u in
            convolution(scope["conv"]["unit\(u)"], u == 0 ? cin : cout, cout, kernel: kernelSize,
                        stride: u == 0 ? stride : [1, 1, 1], convOnly: lastConvOnly && u == units - 1)
        }
        let strided = stride != [1, 1, 1]
        var residual: Conv3d?
        if strided || cin != cout {
            let geometry = strided
                ? ConvGeometry(kernel: kernelSize, stride: stride, padding: kernelSize.map { ($0 - 1) / 2 })
                : ConvGeometry(kernel: [1, 1, 1])
            residual = Conv3d(scope["residual"], in: cin, out: cout, geometry: geometry, bias: bias)
        }
        return ResidualUnit(convs: convs, residual: residual)
    }

    private func downLayer(_ scope: ParameterScope, _ cin: Int, _ cout: Int, stride: [Int]) -> UNetDown {
        residualUnits > 0
            ? .residual(residualUnit(scope, cin, cout, stride: stride, units: residualUnits, lastConvOnly: false))
            : .convolution(convolution(scope, cin, cout, kernel: kernelSize, stride: stride))
    }

    private func upLayer(_ scope: ParameterScope, _ cin: Int, _ cout: Int, stride: [Int], top: Bool) -> UNetUp {
        let convScope = residualUnits > 0 ? scope[0] : scope
        let geometry = ConvGeometry(kernel: upKernelSize, stride: stride, padding: upKernelSize.map { ($0 - 1) / 2 })
        let deconv = ConvTranspose3d(convScope["conv"], in: cin, out: cout, geometry: geometry,
                                     outputPadding: stride.map { $0 - 1 }, bias: bias)
        let adn = top && residualUnits == 0 ? nil
            : NormActivation(norm: ConvADN.Norm(norm, convScope["adn"]["N"], channels: cout),
                             activation: Activation(activation, convScope["adn"]["A"]))
        let unit = residualUnits > 0
            ? residualUnit(scope[1], cout, cout, stride: [1, 1, 1], units: 1, lastConvOnly: top) : nil
        return UNetUp(deconv: deconv, adn: adn, unit: unit)
    }
}

/// MONAI `ResidualUnit`: conv(x) + residual(x), no activation after the sum.
struct ResidualUnit: Sendable {
    let convs: [ConvADN]
    /// nil: the identity.
    let residual: Conv3d?

    func run(_ x: Var, _ g: Graph) -> Var {
        let skip = residual.map { g.conv([x], $0) } ?? x
        var h = x
        for conv in convs { h = g.convADN([h], conv) }
        return g.add(h, skip)
    }
}

/// A UNet down (or bottom) layer.
enum UNetDown: Sendable {
    case convolution(ConvADN)
    case residual(ResidualUnit)

    func run(_ x: Var, _ g: Graph) -> Var {
        switch self {
        case .convolution(let c): return g.convADN([x], c)
        case .residual(let r): return r.run(x, g)
        }
    }
}

/// A UNet up layer: transposed convolution over cat([skip, below]), its norm and activation
/// (absent at the top without residual units), then the residual unit if any.
struct UNetUp: Sendable {
    let deconv: ConvTranspose3d
    let adn: NormActivation?
    let unit: ResidualUnit?

    func run(skip: Var, below: Var, _ g: Graph) -> Var {
        var h = g.deconv(g.concat([skip, below]), deconv)
        if let adn { h = g.normActivation(h, adn) }
        if let unit { h = unit.run(h, g) }
        return h
    }
}

/// A UNet with weights. Built by `UNetArchitecture`.
public struct UNet: TapedNetwork {
    /// From the top level down.
    let downs: [UNetDown]
    let bottom: UNetDown
    /// In the order of `downs`.
    let ups: [UNetUp]

    func run(_ input: Var, _ g: Graph) -> Var {
        var skips: [Var] = []
        var h = input
        for down in downs {
            h = down.run(h, g)
            skips.append(h)
        }
        h = bottom.run(h, g)
        for (up, skip) in zip(ups, skips).reversed() { h = up.run(skip: skip, below: h, g) }
        return h
    }
}
