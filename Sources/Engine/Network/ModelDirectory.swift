import Foundation

/// A problem with a model directory; the message names the file at fault.
public struct ModelError: Error, CustomStringConvertible, LocalizedError {
    public let path: String
    public let problem: String

    public init(path: String, problem: String) {
        self.path = path
        self.problem = problem
    }

    public var description: String { "\(path): \(problem)" }
    public var errorDescription: String? { description }
}

/// `preprocessing.intensity` of model.json: MONAI `ScaleIntensityRange`.
public struct IntensityWindow: Sendable, Equatable {
    public var aMin: Double
    public var aMax: Double
    public var bMin: Double
    public var bMax: Double
    public var clip: Bool

    public init(aMin: Double, aMax: Double, bMin: Double, bMax: Double, clip: Bool) {
        (self.aMin, self.aMax, self.bMin, self.bMax, self.clip) = (aMin, aMax, bMin, bMax, clip)
    }
}

/// `preprocessing` of model.json: how a scan becomes network input.
public struct PreprocessingConfig: Sendable, Equatable {
    /// Three-letter orientation code, e.g. "RAS".
    public var orientation: String
    /// Voxel size in mm along i, j, k of the model grid.
    public var spacing: [Double]
    public var intensity: IntensityWindow

    public init(orientation: String, spacing: [Double], intensity: IntensityWindow) {
        (self.orientation, self.spacing, self.intensity) = (orientation, spacing, intensity)
    }
}

/// model.json, format "agg2exp-model/1":
///
///     { "format": "agg2exp-model/1", "architecture": "BasicUNet",
///       "arguments": { …MONAI constructor arguments… },
///       "classes": ["background", …],
///       "preprocessing": {"orientation": "RAS", "spacing": [1.5, 1.5, 1.5],
///                         "intensity": {"a_min": -1024, "a_max": 1024, "b_min": 0, "b_max": 1, "clip": true}},
///       "inference": {"roi_size": [96, 96, 96], "overlap": 0.25},
///       "weights": "model.safetensors" }
///
/// `weights` (optional) names the weight file beside model.json: safetensors, or a PyTorch
/// checkpoint (`.pth` / `.pt`).
public struct ModelDescription: Sendable {
    public static let format = "agg2exp-model/1"

    public let architecture: any NetworkArchitecture
    public let classes: [String]
    public let preprocessing: PreprocessingConfig
    public let roiSize: [Int]
    public let overlap: Double
    /// The MONAI release the weights were trained with, when model.json states it.
    public let monaiVersion: MONAIVersion?
    /// The weight file's name inside the model directory.
    public let weightsFile: String

    /// Parses and validates model.json at `path`.
    public init(path: String) throws(ModelError) {
        func fail(_ problem: String) -> ModelError { ModelError(path: path, problem: problem) }
        do { try FileChecks.requireRegularFile(path) } catch { throw fail(error.problem) }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw fail("cannot be read")
        }
        let root: [String: JSONValue]
        do {
            guard let o = try JSONValue.parse(data).object else { throw fail("malformed JSON: the top level must be an object") }
            root = o
        } catch let e as ModelError {
            throw e
        } catch {
            throw fail("malformed JSON (\(Self.reason(error)))")
        }
        let known: Set<String> = ["format", "architecture", "arguments", "classes", "preprocessing", "inference",
                                  "monai_version", "weights"]
        if let bad = root.keys.sorted().first(where: { !known.contains($0) }) { throw fail("unknown key '\(bad)'") }
        guard let format = root["format"]?.string else { throw fail("missing \"format\": \"\(Self.format)\"") }
        guard format == Self.format else { throw fail("unsupported format '\(format)' (expected '\(Self.format)')") }

        switch root["weights"] {
        case nil:
            weightsFile = ModelDirectory.weightsFile
        case .string(let file)? where !file.isEmpty && !file.contains("/"):
            weightsFile = file
        default:
            throw fail("\"weights\" must be a file name beside model.json, such as \"model.pth\"")
        }
        guard let name = root["architecture"]?.string else { throw fail("missing \"architecture\"") }
        guard let type = NetworkArchitectures.named(name) else {
            let names = NetworkArchitectures.all.map { $0.name }.joined(separator: ", ")
            throw fail("unknown architecture '\(name)' (supported: \(names))")
        }
        let arguments: [String: JSONValue]
        switch root["arguments"] {
        case nil: arguments = [:]
        case .object(let o)?: arguments = o
        default: throw fail("\"arguments\" must be an object")
        }
        switch root["monai_version"] {
        case nil:
            monaiVersion = nil
        case .string(let text)?:
            guard let version = MONAIVersion(text) else {
                throw fail("monai_version '\(text)' is not a version such as \"1.4.0\"")
            }
            monaiVersion = version
        default:
            throw fail("monai_version must be a string such as \"1.4.0\"")
        }
        do {
            architecture = try type.init(arguments: arguments, monaiVersion: monaiVersion)
        } catch {
            throw fail("\(name) arguments: \(error.message)")
        }

        guard let classValues = root["classes"]?.array, !classValues.isEmpty,
              classValues.allSatisfy({ $0.string != nil }) else {
            throw fail("\"classes\" must be a non-empty list of names")
        }
        classes = classValues.map { $0.string! }
        if let problem = Self.duplicateClassProblem(classes) { throw fail(problem) }
        guard classes.count == architecture.outputChannels else {
            throw fail("classes lists \(classes.count) names but the network has \(architecture.outputChannels) "
                + "output channels (arguments.out_channels)")
        }

        guard let pre = root["preprocessing"]?.object else { throw fail("missing \"preprocessing\" object") }
        guard let orientation = pre["orientation"]?.string, Self.isOrientationCode(orientation) else {
            throw fail("preprocessing.orientation must be a code such as \"RAS\" or \"LPS\"")
        }
        guard let spacingValues = pre["spacing"]?.array, spacingValues.count == 3,
              spacingValues.allSatisfy({ ($0.number ?? 0) > 0 }) else {
            throw fail("preprocessing.spacing must be three positive numbers (mm)")
        }
        guard let intensity = pre["intensity"]?.object else { throw fail("missing preprocessing.intensity") }
        func number(_ key: String) throws(ModelError) -> Double {
            guard let v = intensity[key]?.number else { throw fail("preprocessing.intensity.\(key) must be a number") }
            return v
        }
        let window = IntensityWindow(aMin: try number("a_min"), aMax: try number("a_max"),
                                     bMin: try number("b_min"), bMax: try number("b_max"),
                                     clip: try Self.strictBool(intensity["clip"], "preprocessing.intensity.clip", default: false, fail))
        if let problem = Self.spacingProblem(spacingValues.map { $0.number! }) { throw fail(problem) }
        preprocessing = PreprocessingConfig(orientation: orientation.uppercased(),
                                            spacing: spacingValues.map { $0.number! }, intensity: window)

        guard let inference = root["inference"]?.object else { throw fail("missing \"inference\" object") }
        guard let roi = inference["roi_size"]?.array, roi.count == 3, roi.allSatisfy({ ($0.int ?? 0) > 0 }) else {
            throw fail("inference.roi_size must be three positive integers")
        }
        roiSize = roi.map { $0.int! }
        if let problem = Self.roiSizeProblem(roiSize) { throw fail(problem) }
        if let problem = architecture.roiProblem(roiSize) { throw fail("inference.\(problem)") }
        let overlap = try Self.strictNumber(inference["overlap"], "inference.overlap", default: 0.25, fail)
        guard overlap >= 0, overlap <= Self.maxOverlap else {
            throw fail("inference.overlap \(overlap) must be in [0, \(Self.maxOverlap)]")
        }
        self.overlap = overlap
    }

    // MARK: Domains of the numbers in model.json

    /// Largest sliding-window overlap: at 0.9 a 96-voxel window steps by 9 voxels; closer to 1
    /// the step reaches 1 voxel and the window count explodes.
    static let maxOverlap = 0.9
    /// Largest sliding-window size per axis.
    static let maxRoiSize = 1024

    /// A present key of the wrong type is an error; only an absent key takes the default.
    static func strictBool(_ value: JSONValue?, _ key: String, default d: Bool,
                           _ fail: (String) -> ModelError) throws(ModelError) -> Bool {
        guard let value else { return d }
        guard let b = value.bool else { throw fail("\(key) must be true or false, not \(value.jsonText)") }
        return b
    }

    static func strictNumber(_ value: JSONValue?, _ key: String, default d: Double,
                             _ fail: (String) -> ModelError) throws(ModelError) -> Double {
        guard let value else { return d }
        guard let n = value.number else { throw fail("\(key) must be a number, not \(value.jsonText)") }
        return n
    }

    static func duplicateClassProblem(_ classes: [String]) -> String? {
        var seen = Set<String>()
        guard let dup = classes.first(where: { !seen.insert($0).inserted }) else { return nil }
        return "classes lists \"\(dup)\" twice; class names become CSV columns and must be unique"
    }

    static func spacingProblem(_ spacing: [Double]) -> String? {
        GeometryDomain.spacingProblem(spacing).map { "preprocessing.spacing: \($0)" }
    }

    static func roiSizeProblem(_ roi: [Int]) -> String? {
        roi.allSatisfy({ $0 <= maxRoiSize }) ? nil : "inference.roi_size \(roi) exceeds \(maxRoiSize) voxels per axis"
    }

    /// True for three letters naming three different axes (R/L, A/P, S/I).
    static func isOrientationCode(_ code: String) -> Bool {
        let axes = code.uppercased().map { c -> Int? in
            switch c {
            case "R", "L": return 0
            case "A", "P": return 1
            case "S", "I": return 2
            default: return nil
            }
        }
        return axes.count == 3 && Set(axes.compactMap { $0 }).count == 3
    }

    private static func reason(_ error: Error) -> String {
        if case DecodingError.dataCorrupted(let context) = error {
            if let underlying = context.underlyingError as NSError?,
               let detail = underlying.userInfo[NSDebugDescriptionErrorKey] as? String {
                return detail
            }
            return context.debugDescription
        }
        return "\(error)"
    }
}

/// Loading the weights of a model directory against its description.
public enum ModelDirectory {
    public static let descriptionFile = "model.json"
    public static let weightsFile = "model.safetensors"

    /// Reads model.json and its weight file from `directory` and builds the network.
    public static func load(directory: String) throws -> (description: ModelDescription, network: any SegmentationNetwork) {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw ModelError(path: directory, problem: "model directory not found")
        }
        let description = try ModelDescription(path: (directory as NSString).appendingPathComponent(descriptionFile))
        let weightsPath = (directory as NSString).appendingPathComponent(description.weightsFile)
        let parameters = try loadParameters(path: weightsPath, description: description)
        return (description, description.architecture.build(parameters: parameters))
    }

    /// Every expected tensor from a weight file (safetensors or .pth), checked against the
    /// architecture: one error lists all missing, unexpected and mis-shaped tensors.
    public static func loadParameters(path: String, description: ModelDescription) throws -> [String: [Float]] {
        let file = try WeightFiles.open(path)
        let expected = description.architecture.parameterShapes
        let classifier = description.architecture.classifierWeightKey
        if let found = file.info(classifier), found.isFloatingPoint, let outputs = found.shape.first,
           outputs != description.classes.count {
            throw ModelError(path: path, problem: "the weights have \(outputs) output classes (\(classifier) "
                + "\(found.shape)) but model.json lists \(description.classes.count) classes")
        }
        var problems: [String] = []
        let expectedKeys = Set(expected.map(\.key))
        for (key, shape) in expected {
            guard let entry = file.info(key) else {
                problems.append("missing \(key) (expected \(shape))")
                continue
            }
            if !entry.isFloatingPoint {
                problems.append("\(key) is \(entry.dtype), expected a floating-point tensor of shape \(shape)")
            } else if entry.shape != shape {
                problems.append("wrong shape for \(key): expected \(shape), found \(entry.shape)")
            }
        }
        for key in file.floatingPointNames where !expectedKeys.contains(key) {
            problems.append("unexpected \(key) (found \(file.info(key)!.shape))")
        }
        for buffer in description.architecture.optionalIntegerBuffers {
            guard let entry = file.info(buffer.key) else { continue }
            if entry.isFloatingPoint || entry.shape != buffer.shape {
                problems.append("\(buffer.key) must be an integer tensor of shape \(buffer.shape), found \(entry.dtype) \(entry.shape)")
            } else if (try? file.integerValues(buffer.key)) != buffer.values {
                problems.append("\(buffer.key) differs from the index MONAI computes for this window size")
            }
        }
        guard problems.isEmpty else {
            throw ModelError(path: path, problem: "the tensors do not match \(type(of: description.architecture).name) "
                + "as model.json configures it:\n  " + problems.joined(separator: "\n  "))
        }
        var parameters: [String: [Float]] = [:]
        for (key, _) in expected {
            parameters[key] = try file.floatValues(key)
        }
        return parameters
    }
}
