import Engine
import Foundation
import TestSupport
import XCTest

/// Writes a safetensors file from raw tensor bytes (header offsets computed here unless given).
func writeTestSafetensors(_ tensors: [(name: String, dtype: String, shape: [Int], bytes: [UInt8])],
                          to path: String, headerOverride: String? = nil) throws {
    var entries: [String] = []
    var offset = 0
    for t in tensors {
        entries.append("\"\(t.name)\": {\"dtype\": \"\(t.dtype)\", \"shape\": \(t.shape), \"data_offsets\": [\(offset), \(offset + t.bytes.count)]}")
        offset += t.bytes.count
    }
    let header = Array((headerOverride ?? "{" + entries.joined(separator: ", ") + "}").utf8)
    var data = Data()
    withUnsafeBytes(of: UInt64(header.count).littleEndian) { data.append(contentsOf: $0) }
    data.append(contentsOf: header)
    for t in tensors { data.append(contentsOf: t.bytes) }
    try data.write(to: URL(fileURLWithPath: path))
}

func float32Bytes(_ values: [Float]) -> [UInt8] { values.flatMap { withUnsafeBytes(of: $0.bitPattern.littleEndian, Array.init) } }

final class SafetensorsTests: XCTestCase {
    func testConvertsF16AndBF16AndReadsIntegers() throws {
        let dir = try makeTemporaryDirectory(self)
        let path = dir + "/t.safetensors"
        // F16: 1.5 = 0x3E00, −2 = 0xC000, 2⁻²⁴ (smallest subnormal) = 0x0001, 65504 = 0x7BFF.
        let f16: [UInt16] = [0x3E00, 0xC000, 0x0001, 0x7BFF]
        // BF16: upper halves of Float32 1.0, −0.5 and 3.0.
        let bf16: [UInt16] = [0x3F80, 0xBF00, 0x4040]
        try writeTestSafetensors([
            ("half", "F16", [2, 2], f16.flatMap { withUnsafeBytes(of: $0.littleEndian, Array.init) }),
            ("brain", "BF16", [3], bf16.flatMap { withUnsafeBytes(of: $0.littleEndian, Array.init) }),
            ("single", "F32", [2], float32Bytes([0.25, -7])),
            ("count", "I64", [], withUnsafeBytes(of: Int64(7).littleEndian, Array.init)),
        ], to: path)
        let file = try SafetensorsFile(path: path)
        XCTAssertEqual(try file.floats("half"), [1.5, -2, Float(sign: .plus, exponent: -24, significand: 1), 65504])
        XCTAssertEqual(try file.floats("brain"), [1, -0.5, 3])
        XCTAssertEqual(try file.tensor("single"), Tensor(shape: [2], data: [0.25, -7]))
        XCTAssertEqual(try file.integers("count"), [7])
        XCTAssertEqual(file.floatingPointNames, ["brain", "half", "single"])
        XCTAssertThrowsError(try file.floats("count"))
    }

    func testRejectsBrokenFiles() throws {
        let dir = try makeTemporaryDirectory(self)
        func problem(_ write: (String) throws -> Void) throws -> String {
            let path = dir + "/bad.safetensors"
            try write(path)
            do {
                _ = try SafetensorsFile(path: path)
                return "no error"
            } catch {
                XCTAssertTrue(error.description.hasPrefix(path), error.description)
                return error.problem
            }
        }
        XCTAssertTrue(try problem { try Data([1, 2, 3]).write(to: URL(fileURLWithPath: $0)) }.contains("truncated"))
        // Header length larger than the file.
        XCTAssertTrue(try problem { path in
            var d = Data()
            withUnsafeBytes(of: UInt64(1000).littleEndian) { d.append(contentsOf: $0) }
            d.append(contentsOf: Array("{}".utf8))
            try d.write(to: URL(fileURLWithPath: path))
        }.contains("points past the end"))
        // Offsets outside the data section.
        XCTAssertTrue(try problem {
            try writeTestSafetensors([("w", "F32", [2], float32Bytes([1, 2]))], to: $0,
                                     headerOverride: "{\"w\": {\"dtype\": \"F32\", \"shape\": [4], \"data_offsets\": [0, 16]}}")
        }.contains("point outside the file"))
        // Byte length disagreeing with the shape.
        XCTAssertTrue(try problem {
            try writeTestSafetensors([("w", "F32", [3], float32Bytes([1, 2]))], to: $0)
        }.contains("needs 12"))
        XCTAssertTrue(try problem { path in
            try writeTestSafetensors([], to: path, headerOverride: "{\"w\": [1, 2")
        }.contains("not valid JSON"))
        XCTAssertTrue(try problem {
            try writeTestSafetensors([("w", "Q4", [2], [0, 0])], to: $0)
        }.contains("unknown dtype"))
        XCTAssertTrue(try problem { try FileManager.default.removeItem(atPath: $0) }.contains("no such file"))
    }
}
