import Foundation

/// A tensor's type and shape in a weight file, before its values are read.
public struct WeightTensorInfo: Sendable, Equatable {
    public let dtype: String
    public let shape: [Int]
    public let isFloatingPoint: Bool
}

/// A file of named tensors a model's weights are loaded from: safetensors or a PyTorch
/// checkpoint. Errors are `ModelError`s naming the file.
public protocol WeightFile: Sendable {
    var path: String { get }
    func info(_ name: String) -> WeightTensorInfo?
    /// Names of the floating-point tensors, sorted.
    var floatingPointNames: [String] { get }
    func floatValues(_ name: String) throws(ModelError) -> [Float]
    func integerValues(_ name: String) throws(ModelError) -> [Int]
}

public enum WeightFiles {
    /// Opens `path` by its extension: `.pth` / `.pt` as a PyTorch checkpoint, anything else as safetensors.
    public static func open(_ path: String) throws(ModelError) -> any WeightFile {
        let ext = (path as NSString).pathExtension.lowercased()
        do {
            if ext == "pth" || ext == "pt" { return try PyTorchCheckpoint(path: path) }
        } catch {
            throw ModelError(path: error.path, problem: error.problem)
        }
        do {
            return try SafetensorsFile(path: path)
        } catch {
            throw ModelError(path: error.path, problem: error.problem)
        }
    }
}

extension SafetensorsFile: WeightFile {
    public func info(_ name: String) -> WeightTensorInfo? {
        entries[name].map { WeightTensorInfo(dtype: $0.dtype, shape: $0.shape, isFloatingPoint: $0.isFloatingPoint) }
    }

    public func floatValues(_ name: String) throws(ModelError) -> [Float] {
        do { return try floats(name) } catch { throw ModelError(path: error.path, problem: error.problem) }
    }

    public func integerValues(_ name: String) throws(ModelError) -> [Int] {
        do { return try integers(name) } catch { throw ModelError(path: error.path, problem: error.problem) }
    }
}

extension PyTorchCheckpoint: WeightFile {
    public func info(_ name: String) -> WeightTensorInfo? {
        entries[name].map { WeightTensorInfo(dtype: $0.dtype, shape: $0.shape, isFloatingPoint: $0.isFloatingPoint) }
    }

    public func floatValues(_ name: String) throws(ModelError) -> [Float] {
        do { return try floats(name) } catch { throw ModelError(path: error.path, problem: error.problem) }
    }

    public func integerValues(_ name: String) throws(ModelError) -> [Int] {
        do { return try integers(name) } catch { throw ModelError(path: error.path, problem: error.problem) }
    }
}
