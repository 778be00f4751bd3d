import Foundation

/// A parsed JSON document (model.json and the safetensors header).
public enum JSONValue: Sendable, Equatable, Decodable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    public init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { self = .null }
        else if let b = try? c.decode(Bool.self) { self = .bool(b) }
        else if let n = try? c.decode(Double.self) { self = .number(n) }
        else if let s = try? c.decode(String.self) { self = .string(s) }
        else if let a = try? c.decode([JSONValue].self) { self = .array(a) }
        else { self = .object(try c.decode([String: JSONValue].self)) }
    }

    /// Parses UTF-8 JSON text; the error message says where parsing failed.
    public static func parse(_ data: Data) throws -> JSONValue {
        try JSONDecoder().decode(JSONValue.self, from: data)
    }

    public var object: [String: JSONValue]? { if case .object(let o) = self { return o } else { return nil } }
    public var array: [JSONValue]? { if case .array(let a) = self { return a } else { return nil } }
    public var string: String? { if case .string(let s) = self { return s } else { return nil } }
    public var number: Double? { if case .number(let n) = self { return n } else { return nil } }
    public var bool: Bool? { if case .bool(let b) = self { return b } else { return nil } }
    /// Short JSON-like text for error messages.
    public var jsonText: String {
        switch self {
        case .null: return "null"
        case .bool(let b): return b ? "true" : "false"
        case .number(let n): return "\(n)"
        case .string(let s): return "\"\(s)\""
        case .array: return "an array"
        case .object: return "an object"
        }
    }

    /// An integral number.
    public var int: Int? {
        guard let n = number, n.rounded() == n, abs(n) < 1e15 else { return nil }
        return Int(n)
    }
}

/// An invalid or unsupported constructor argument. The model loader adds the file name.
public struct ArchitectureError: Error, Equatable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// A network architecture as a model directory names it. It parses the MONAI constructor
/// arguments, lists the state_dict it expects, and builds the network from loaded weights.
/// Each architecture lives in its own file and is listed in `NetworkArchitectures.all`.
public protocol NetworkArchitecture: Sendable {
    /// The `architecture` value in model.json, spelled as the MONAI class.
    static var name: String { get }
    /// Parses `arguments` exactly as the MONAI constructor would read them (same names, same
    /// defaults); throws for invalid values and for options this engine does not implement.
    /// `monaiVersion` is model.json's `monai_version`, for behaviour that changed between MONAI
    /// releases with identical weights.
    init(arguments: [String: JSONValue], monaiVersion: MONAIVersion?) throws(ArchitectureError)
    var inputChannels: Int { get }
    var outputChannels: Int { get }
    /// Every floating-point state_dict entry with its shape, in module order.
    var parameterShapes: [(key: String, shape: [Int])] { get }
    /// The state_dict weight whose first dimension is the number of output classes.
    var classifierWeightKey: String { get }
    /// Why a sliding-window ROI cannot be used with this network, or nil when it can.
    func roiProblem(_ roiSize: [Int]) -> String?
    /// Integer state_dict buffers a file may carry or omit (they are recomputed), with the values
    /// they must hold.
    var optionalIntegerBuffers: [(key: String, shape: [Int], values: [Int])] { get }
    /// Builds the network; `parameters` holds every key of `parameterShapes` with that shape.
    func build(parameters: [String: [Float]]) -> any SegmentationNetwork
}

extension NetworkArchitecture {
    /// The constructor as the current MONAI reads it.
    public init(arguments: [String: JSONValue]) throws(ArchitectureError) {
        try self.init(arguments: arguments, monaiVersion: nil)
    }

    public var optionalIntegerBuffers: [(key: String, shape: [Int], values: [Int])] { [] }
}

/// A network with weights: logits for one window and the input gradient of a scalar of them.
/// Tensors are one sample, channels first: input [Cin, D, H, W], logits [K, D, H, W].
public protocol SegmentationNetwork: Sendable {
    func forward(_ input: Tensor) -> Tensor

    /// Runs the forward pass keeping what the backward pass needs, asks `outputGradient` for
    /// ∂T/∂logits given the logits, and returns the logits and ∂T/∂input. When `outputGradient`
    /// returns nil the backward pass is skipped and the gradient is nil.
    func forward(_ input: Tensor, outputGradient: (Tensor) throws -> Tensor?) rethrows
        -> (logits: Tensor, inputGradient: Tensor?)
}

/// The architectures model.json may name.
public enum NetworkArchitectures {
    public static let all: [any NetworkArchitecture.Type] = [BasicUNetArchitecture.self, SwinUNETRArchitecture.self,
                                                             UNetArchitecture.self, SegResNetArchitecture.self]

    public static func named(_ name: String) -> (any NetworkArchitecture.Type)? {
        all.first { $0.name == name }
    }
}

/// MONAI's `act`, `norm` and `dropout` arguments: a bare name, a `[name, {args}]` pair, or null.
enum MONAILayerSpec {
    /// Splits a spec into a lower-cased name and its keyword arguments (MONAI's `split_args`).
    static func split(_ value: JSONValue, what: String) throws(ArchitectureError) -> (name: String, args: [String: JSONValue])? {
        switch value {
        case .null:
            return nil
        case .string(let s):
            return (s.lowercased(), [:])
        case .array(let a) where a.count == 2:
            guard let name = a[0].string, let args = a[1].object else {
                throw ArchitectureError("\(what) must be a name or a [name, {arguments}] pair")
            }
            return (name.lowercased(), args)
        default:
            throw ArchitectureError("\(what) must be a name or a [name, {arguments}] pair")
        }
    }

    /// Rejects keyword arguments the layer does not take (PyTorch would raise a TypeError).
    static func checkKeys(_ args: [String: JSONValue], allowed: Set<String>, what: String) throws(ArchitectureError) {
        if let bad = args.keys.sorted().first(where: { !allowed.contains($0) }) {
            throw ArchitectureError("\(what) argument '\(bad)' is not supported (supported: \(allowed.sorted().joined(separator: ", ")))")
        }
    }

    static func number(_ args: [String: JSONValue], _ key: String, default d: Double, what: String) throws(ArchitectureError) -> Double {
        guard let v = args[key] else { return d }
        guard let n = v.number else { throw ArchitectureError("\(what) argument '\(key)' must be a number") }
        return n
    }

    static func bool(_ args: [String: JSONValue], _ key: String, default d: Bool, what: String) throws(ArchitectureError) -> Bool {
        guard let v = args[key] else { return d }
        guard let b = v.bool else { throw ArchitectureError("\(what) argument '\(key)' must be true or false") }
        return b
    }
}

/// An activation as MONAI's `Act` factory builds it.
struct ActivationSpec: Sendable, Equatable {
    enum Kind: Sendable, Equatable { case none, relu, leakyReLU(Float), prelu(parameters: Int) }
    var kind: Kind

    init(_ value: JSONValue) throws(ArchitectureError) {
        guard let spec = try MONAILayerSpec.split(value, what: "act") else {
            kind = .none
            return
        }
        let (name, args) = spec
        switch name {
        case "relu":
            try MONAILayerSpec.checkKeys(args, allowed: ["inplace"], what: "relu")
            kind = .relu
        case "leakyrelu":
            try MONAILayerSpec.checkKeys(args, allowed: ["negative_slope", "inplace"], what: "leakyrelu")
            kind = .leakyReLU(Float(try MONAILayerSpec.number(args, "negative_slope", default: 0.01, what: "leakyrelu")))
        case "prelu":
            try MONAILayerSpec.checkKeys(args, allowed: ["num_parameters", "init"], what: "prelu")
            let n = try MONAILayerSpec.number(args, "num_parameters", default: 1, what: "prelu")
            guard n >= 1, n.rounded() == n else { throw ArchitectureError("prelu num_parameters must be a positive integer") }
            kind = .prelu(parameters: Int(n))
        default:
            throw ArchitectureError("activation '\(name)' is not supported (supported: relu, leakyrelu, prelu)")
        }
    }
}

/// A normalisation as MONAI's `Norm` factory builds it.
struct NormSpec: Sendable, Equatable {
    enum Kind: Sendable, Equatable { case none, instance, batch }
    var kind: Kind
    var affine: Bool
    var eps: Float
    /// Evaluation uses running statistics (BatchNorm default) rather than the input's own.
    var runningStatistics: Bool

    init(_ value: JSONValue) throws(ArchitectureError) {
        guard let spec = try MONAILayerSpec.split(value, what: "norm"), spec.name != "none" else {
            (kind, affine, eps, runningStatistics) = (.none, false, 1e-5, false)
            return
        }
        let (name, args) = spec
        let allowed: Set<String> = ["affine", "eps", "momentum", "track_running_stats"]
        switch name {
        case "instance":
            try MONAILayerSpec.checkKeys(args, allowed: allowed, what: "instance norm")
            kind = .instance
            affine = try MONAILayerSpec.bool(args, "affine", default: false, what: "instance norm")
            runningStatistics = try MONAILayerSpec.bool(args, "track_running_stats", default: false, what: "instance norm")
        case "batch":
            try MONAILayerSpec.checkKeys(args, allowed: allowed, what: "batch norm")
            kind = .batch
            affine = try MONAILayerSpec.bool(args, "affine", default: true, what: "batch norm")
            runningStatistics = try MONAILayerSpec.bool(args, "track_running_stats", default: true, what: "batch norm")
        default:
            throw ArchitectureError("normalisation '\(name)' is not supported (supported: instance, batch, none)")
        }
        eps = Float(try MONAILayerSpec.number(args, "eps", default: 1e-5, what: "\(name) norm"))
    }
}

/// MONAI's `dropout` argument. Dropout is the identity at inference, so only its form is checked.
enum DropoutSpec {
    static func validate(_ value: JSONValue) throws(ArchitectureError) {
        if case .number(let p) = value {
            guard (0...1).contains(p) else { throw ArchitectureError("dropout must be between 0 and 1") }
            return
        }
        guard let spec = try MONAILayerSpec.split(value, what: "dropout") else { return }
        guard ["dropout", "alphadropout"].contains(spec.name) else {
            throw ArchitectureError("dropout '\(spec.name)' is not supported (supported: dropout, alphadropout)")
        }
    }
}
