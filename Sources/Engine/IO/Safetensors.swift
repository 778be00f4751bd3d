import Foundation

/// A problem with a safetensors file; the message names the file.
public struct SafetensorsError: Error, CustomStringConvertible, LocalizedError {
    public let path: String
    public let problem: String

    public var description: String { "\(path): \(problem)" }
    public var errorDescription: String? { description }
}

/// A safetensors file (https://github.com/huggingface/safetensors): an 8-byte little-endian
/// header length, a JSON header mapping names to dtype, shape and [begin, end) byte offsets into
/// the data section, then the data. The header and every offset are validated against the file
/// size when the file is opened; tensor bytes are read (and converted) on request.
public struct SafetensorsFile: Sendable {
    public struct Entry: Sendable, Equatable {
        public let dtype: String
        public let shape: [Int]
        let begin: Int
        let end: Int

        /// F32, F16, BF16 and F64 convert to Float32; integer and boolean tensors (such as
        /// BatchNorm's `num_batches_tracked`) are bookkeeping and are not loaded as parameters.
        public var isFloatingPoint: Bool { ["F32", "F16", "BF16", "F64"].contains(dtype) }
    }

    public let path: String
    public let entries: [String: Entry]
    /// The optional `__metadata__` string map.
    public let metadata: [String: String]
    private let data: Data
    private let dataStart: Int

    private static let itemSizes: [String: Int] = [
        "F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1,
        "U64": 8, "U32": 4, "U16": 2, "U8": 1, "BOOL": 1, "F8_E4M3": 1, "F8_E5M2": 1,
    ]

    public init(path: String) throws(SafetensorsError) {
        func fail(_ problem: String) -> SafetensorsError { SafetensorsError(path: path, problem: problem) }
        do {
            try FileChecks.requireRegularFile(path)
        } catch {
            throw fail(error.problem)
        }
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path), options: .alwaysMapped)
        } catch {
            throw fail("cannot be read")
        }
        guard data.count >= 8 else {
            throw fail("truncated: \(data.count) bytes is shorter than the 8-byte header length")
        }
        let headerLength = data.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(fromByteOffset: 0, as: UInt64.self)) }
        guard headerLength <= UInt64(data.count - 8) else {
            throw fail("truncated: the header length \(headerLength) points past the end of the \(data.count)-byte file")
        }
        let dataStart = 8 + Int(headerLength)
        let dataSize = data.count - dataStart
        let header: [String: JSONValue]
        do {
            guard let object = try JSONValue.parse(data.subdata(in: 8..<dataStart)).object else {
                throw fail("the header is not a JSON object")
            }
            header = object
        } catch let error as SafetensorsError {
            throw error
        } catch {
            throw fail("the header is not valid JSON")
        }
        var entries: [String: Entry] = [:]
        var metadata: [String: String] = [:]
        for (name, value) in header {
            if name == "__metadata__" {
                for (k, v) in value.object ?? [:] { metadata[k] = v.string }
                continue
            }
            guard let o = value.object, let dtype = o["dtype"]?.string,
                  let shapeValues = o["shape"]?.array, let offsets = o["data_offsets"]?.array, offsets.count == 2
            else { throw fail("tensor '\(name)' lacks dtype, shape or data_offsets") }
            guard let itemSize = Self.itemSizes[dtype] else { throw fail("tensor '\(name)' has unknown dtype \(dtype)") }
            let shape = shapeValues.compactMap { $0.int }
            guard shape.count == shapeValues.count, shape.allSatisfy({ $0 >= 0 }) else {
                throw fail("tensor '\(name)' has an invalid shape")
            }
            guard let begin = offsets[0].int, let end = offsets[1].int, begin >= 0, begin <= end else {
                throw fail("tensor '\(name)' has invalid data_offsets")
            }
            guard end <= dataSize else {
                throw fail("tensor '\(name)' data_offsets [\(begin), \(end)] point outside the file "
                    + "(the data section holds \(dataSize) bytes)")
            }
            let (count, overflow) = shape.reduce((1, false)) { acc, d in
                let (p, o) = acc.0.multipliedReportingOverflow(by: d)
                return (p, acc.1 || o)
            }
            let (bytes, bytesOverflow) = count.multipliedReportingOverflow(by: itemSize)
            guard !overflow, !bytesOverflow, bytes == end - begin else {
                let needs = overflow || bytesOverflow ? "more than 2^63" : "\(bytes)"
                throw fail("tensor '\(name)' occupies \(end - begin) bytes but \(dtype) \(shape) needs \(needs)")
            }
            entries[name] = Entry(dtype: dtype, shape: shape, begin: begin, end: end)
        }
        if let problem = Self.tilingProblem(entries, dataSize: dataSize) { throw fail(problem) }
        self.path = path
        self.entries = entries
        self.metadata = metadata
        self.data = data
        self.dataStart = dataStart
    }

    /// The tensors must tile the data section exactly, sorted by offset with neither gaps nor
    /// overlaps, as the safetensors reference validator requires.
    static func tilingProblem(_ entries: [String: Entry], dataSize: Int) -> String? {
        var position = 0
        for (name, e) in entries.sorted(by: { ($0.value.begin, $0.value.end, $0.key) < ($1.value.begin, $1.value.end, $1.key) }) {
            if e.begin < position {
                return "tensor '\(name)' data_offsets [\(e.begin), \(e.end)] overlap the previous tensor (ending at \(position))"
            }
            if e.begin > position {
                return "tensor '\(name)' data_offsets [\(e.begin), \(e.end)] leave a gap after byte \(position)"
            }
            position = e.end
        }
        guard position == dataSize else {
            return "the tensors end at byte \(position) but the data section holds \(dataSize) bytes"
        }
        return nil
    }

    /// Names of the floating-point tensors, sorted.
    public var floatingPointNames: [String] { entries.filter { $0.value.isFloatingPoint }.keys.sorted() }

    /// A floating-point tensor converted to Float32.
    public func floats(_ name: String) throws(SafetensorsError) -> [Float] {
        guard let e = entries[name] else { throw SafetensorsError(path: path, problem: "no tensor named '\(name)'") }
        let count = e.shape.reduce(1, *)
        let start = dataStart + e.begin
        let values: [Float]? = data.withUnsafeBytes { raw in
            let base = raw.baseAddress! + start
            switch e.dtype {
            case "F32":
                return (0..<count).map { Float(bitPattern: UInt32(littleEndian: base.loadUnaligned(fromByteOffset: 4 * $0, as: UInt32.self))) }
            case "F64":
                return (0..<count).map { Float(Double(bitPattern: UInt64(littleEndian: base.loadUnaligned(fromByteOffset: 8 * $0, as: UInt64.self)))) }
            case "F16":
                return (0..<count).map { Self.halfToFloat(UInt16(littleEndian: base.loadUnaligned(fromByteOffset: 2 * $0, as: UInt16.self))) }
            case "BF16":
                return (0..<count).map { Float(bitPattern: UInt32(UInt16(littleEndian: base.loadUnaligned(fromByteOffset: 2 * $0, as: UInt16.self))) << 16) }
            default:
                return nil
            }
        }
        guard let values else { throw SafetensorsError(path: path, problem: "tensor '\(name)' is \(e.dtype), not floating point") }
        return values
    }

    /// A floating-point tensor with its shape.
    public func tensor(_ name: String) throws(SafetensorsError) -> Tensor {
        let values = try floats(name)
        return Tensor(shape: entries[name]!.shape, data: values)
    }

    /// An integer tensor (I64, I32, I16, I8, U8, BOOL) widened to Int.
    public func integers(_ name: String) throws(SafetensorsError) -> [Int] {
        guard let e = entries[name] else { throw SafetensorsError(path: path, problem: "no tensor named '\(name)'") }
        let count = e.shape.reduce(1, *)
        let start = dataStart + e.begin
        let values: [Int]? = data.withUnsafeBytes { raw in
            let base = raw.baseAddress! + start
            switch e.dtype {
            case "I64": return (0..<count).map { Int(Int64(littleEndian: base.loadUnaligned(fromByteOffset: 8 * $0, as: Int64.self))) }
            case "I32": return (0..<count).map { Int(Int32(littleEndian: base.loadUnaligned(fromByteOffset: 4 * $0, as: Int32.self))) }
            case "I16": return (0..<count).map { Int(Int16(littleEndian: base.loadUnaligned(fromByteOffset: 2 * $0, as: Int16.self))) }
            case "I8": return (0..<count).map { Int(base.loadUnaligned(fromByteOffset: $0, as: Int8.self)) }
            case "U8", "BOOL": return (0..<count).map { Int(base.loadUnaligned(fromByteOffset: $0, as: UInt8.self)) }
            default: return nil
            }
        }
        guard let values else { throw SafetensorsError(path: path, problem: "tensor '\(name)' is \(e.dtype), not an integer type") }
        return values
    }

    /// IEEE 754 binary16 → binary32, including subnormals, infinities and NaN.
    static func halfToFloat(_ h: UInt16) -> Float {
        let sign = UInt32(h & 0x8000) << 16
        let exponent = Int((h >> 10) & 0x1F)
        let mantissa = UInt32(h & 0x3FF)
        if exponent == 0 {
            let magnitude = Float(mantissa) * Float(sign: .plus, exponent: -24, significand: 1)
            return sign != 0 ? -magnitude : magnitude
        }
        if exponent == 31 { return Float(bitPattern: sign | 0x7F80_0000 | (mantissa << 13)) }
        return Float(bitPattern: sign | UInt32(exponent - 15 + 127) << 23 | (mantissa << 13))
    }
}
