import Foundation

/// Where the parameters of a module tree come from. An architecture builds its tree once in one
/// function that asks a `ParameterScope` for every tensor by state_dict key and shape; run with a
/// declaring store, the same function lists the expected state_dict, and with a loading store it
/// builds the network. Keys and shapes therefore cannot drift between the two.
final class ParameterStore {
    private let values: [String: [Float]]?
    private(set) var declared: [(key: String, shape: [Int])] = []

    /// Records every requested key and shape; the tensors handed out are placeholders of the right
    /// size whose values are never read (the declared tree is discarded, not run).
    static func declaring() -> ParameterStore { ParameterStore(values: nil) }

    /// Hands out loaded tensors; the loader has already checked every key and shape.
    static func loading(_ values: [String: [Float]]) -> ParameterStore { ParameterStore(values: values) }

    private init(values: [String: [Float]]?) { self.values = values }

    var root: ParameterScope { ParameterScope(store: self, prefix: "") }

    fileprivate func take(_ key: String, shape: [Int]) -> [Float] {
        if let values {
            guard let v = values[key] else { preconditionFailure("parameter \(key) was not loaded") }
            return v
        }
        declared.append((key, shape))
        let count = shape.reduce(1, *)
        // Uninitialised: large placeholders are mapped lazily and never touched.
        return [Float](unsafeUninitializedCapacity: count) { _, n in n = count }
    }
}

/// A state_dict prefix (`swinViT.layers1.0.blocks.0`) within a parameter store.
struct ParameterScope {
    let store: ParameterStore
    let prefix: String

    /// The scope one module level down: `scope["conv1"]["conv"]`.
    subscript(_ name: String) -> ParameterScope {
        ParameterScope(store: store, prefix: prefix.isEmpty ? name : "\(prefix).\(name)")
    }

    subscript(_ index: Int) -> ParameterScope { self[String(index)] }

    /// The tensor `prefix.name` of `shape`.
    func tensor(_ name: String, _ shape: [Int]) -> [Float] {
        store.take(prefix.isEmpty ? name : "\(prefix).\(name)", shape: shape)
    }
}

/// An architecture whose state_dict and network both come from one module-tree builder.
protocol ModuleTreeArchitecture: NetworkArchitecture {
    func makeNetwork(_ scope: ParameterScope) -> any SegmentationNetwork
}

extension ModuleTreeArchitecture {
    public var parameterShapes: [(key: String, shape: [Int])] {
        let store = ParameterStore.declaring()
        _ = makeNetwork(store.root)
        return store.declared
    }

    public func build(parameters: [String: [Float]]) -> any SegmentationNetwork {
        makeNetwork(ParameterStore.loading(parameters).root)
    }
}

extension Conv3d {
    /// A convolution whose weight (and bias) sit under `scope` as `weight` / `bias`.
    init(_ scope: ParameterScope, in cin: Int, out cout: Int, geometry: ConvGeometry, bias: Bool) {
        self.init(inChannels: cin, outChannels: cout, geometry: geometry,
                  weight: scope.tensor("weight", [cout, cin] + geometry.kernel),
                  bias: bias ? scope.tensor("bias", [cout]) : nil)
    }
}

extension ConvTranspose3d {
    /// A transposed convolution whose weight [Cin, Cout, k…] (and bias) sit under `scope`.
    init(_ scope: ParameterScope, in cin: Int, out cout: Int, geometry: ConvGeometry,
         outputPadding: [Int] = [0, 0, 0], bias: Bool) {
        self.init(inChannels: cin, outChannels: cout, geometry: geometry, outputPadding: outputPadding,
                  weight: scope.tensor("weight", [cin, cout] + geometry.kernel),
                  bias: bias ? scope.tensor("bias", [cout]) : nil)
    }
}

extension ConvADN.Norm {
    /// The norm layer `spec` describes, with its parameters under `scope`.
    init(_ spec: NormSpec, _ scope: ParameterScope, channels: Int) {
        if spec.kind == .none {
            self = .none
            return
        }
        let weight = spec.affine ? scope.tensor("weight", [channels]) : nil
        let bias = spec.affine ? scope.tensor("bias", [channels]) : nil
        if spec.runningStatistics {
            self = .running(BatchNorm3d(channels: channels, eps: spec.eps, weight: weight, bias: bias,
                                        runningMean: scope.tensor("running_mean", [channels]),
                                        runningVar: scope.tensor("running_var", [channels])))
        } else {
            self = .statistics(InstanceNorm3d(channels: channels, eps: spec.eps, weight: weight, bias: bias))
        }
    }
}

extension Activation {
    /// The activation `spec` describes; PReLU slopes sit under `scope` as `weight`.
    init(_ spec: ActivationSpec, _ scope: ParameterScope) {
        switch spec.kind {
        case .none: self = .identity
        case .relu: self = .relu
        case .leakyReLU(let s): self = .leakyReLU(negativeSlope: s)
        case .prelu(let n): self = .prelu(weights: scope.tensor("weight", [n]))
        }
    }
}
