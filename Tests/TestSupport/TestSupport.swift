/// Shared test utilities: named tolerances, temporary directories, tiny volumes, crafted NIfTI
/// headers and the built `agg2exp` executable.
import Engine
import Foundation
import XCTest

// MARK: - Tolerances

/// Largest |a − b| over two equally long arrays (infinity when the lengths differ).
public func maxAbsDifference<S: Collection, T: Collection>(_ a: S, _ b: T) -> Double
where S.Element: BinaryFloatingPoint, T.Element: BinaryFloatingPoint {
    guard a.count == b.count else { return .infinity }
    return zip(a, b).reduce(0.0) { max($0, abs(Double($1.0) - Double($1.1))) }
}

/// ‖a − b‖₂ / ‖b‖₂ (b is the reference); 0 when both are zero.
public func relativeL2Error<S: Collection, T: Collection>(_ a: S, _ reference: T) -> Double
where S.Element: BinaryFloatingPoint, T.Element: BinaryFloatingPoint {
    guard a.count == reference.count else { return .infinity }
    var num = 0.0, den = 0.0
    for (x, y) in zip(a, reference) {
        let d = Double(x) - Double(y)
        num += d * d
        den += Double(y) * Double(y)
    }
    if den == 0 { return num == 0 ? 0 : .infinity }
    return (num / den).squareRoot()
}

/// numpy.allclose semantics: |a − b| ≤ absTol + relTol·|b| elementwise. Reports the worst element.
public func assertAllClose<S: Collection, T: Collection>(
    _ a: S, _ b: T, absTol: Double, relTol: Double = 0, _ message: @autoclosure () -> String = "",
    file: StaticString = #filePath, line: UInt = #line
) where S.Element: BinaryFloatingPoint, T.Element: BinaryFloatingPoint {
    guard a.count == b.count else {
        XCTFail("count \(a.count) != \(b.count) \(message())", file: file, line: line)
        return
    }
    var worst: (index: Int, a: Double, b: Double, excess: Double)?
    for (n, (x, y)) in zip(a, b).enumerated() {
        let (dx, dy) = (Double(x), Double(y))
        if dx.isNaN && dy.isNaN { continue }
        let excess = abs(dx - dy) - (absTol + relTol * abs(dy))
        if !(excess <= 0), worst == nil || excess > worst!.excess || excess.isNaN {
            worst = (n, dx, dy, excess.isNaN ? .infinity : excess)
        }
    }
    if let w = worst {
        XCTFail("not close at [\(w.index)]: \(w.a) vs \(w.b) (absTol \(absTol), relTol \(relTol)) \(message())",
                file: file, line: line)
    }
}

/// Affine entries equal within `tol` mm.
public func assertAffineClose(_ a: Affine, _ b: Affine, tol: Double = 1e-6, file: StaticString = #filePath, line: UInt = #line) {
    XCTAssert(a.isClose(to: b, tolerance: tol), "affines differ:\n\(a)\nvs\n\(b)", file: file, line: line)
}

// MARK: - Temporary files

/// A fresh directory removed when the test ends.
public func makeTemporaryDirectory(_ testCase: XCTestCase, file: StaticString = #filePath, line: UInt = #line) throws -> String {
    let dir = FileManager.default.temporaryDirectory
        .appendingPathComponent("agg2exp-test-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    testCase.addTeardownBlock { try? FileManager.default.removeItem(atPath: dir) }
    return dir
}

// MARK: - Tiny volumes

/// A volume whose voxel value is `f(i, j, k)`.
public func makeVolume(dims: [Int], affine: Affine = .identity, _ f: (Int, Int, Int) -> Float) -> Volume {
    let grid = Grid(dims: dims, affine: affine)
    var v = [Float](repeating: 0, count: grid.voxelCount)
    for k in 0..<dims[2] { for j in 0..<dims[1] { for i in 0..<dims[0] { v[grid.index(i, j, k)] = f(i, j, k) } } }
    return Volume(grid: grid, voxels: v)
}

/// A volume where every voxel holds its own linear index: a reordering shows up as changed values.
public func makeIndexVolume(dims: [Int], affine: Affine = .identity) -> Volume {
    makeVolume(dims: dims, affine: affine) { i, j, k in Float(i + dims[0] * (j + dims[1] * k)) }
}

public func makeLabelMap(dims: [Int], affine: Affine = .identity, _ f: (Int, Int, Int) -> Int32) -> LabelMap {
    let grid = Grid(dims: dims, affine: affine)
    var v = [Int32](repeating: 0, count: grid.voxelCount)
    for k in 0..<dims[2] { for j in 0..<dims[1] { for i in 0..<dims[0] { v[grid.index(i, j, k)] = f(i, j, k) } } }
    return LabelMap(grid: grid, labels: v)
}

// MARK: - Crafted NIfTI files

/// Builds an uncompressed single-file NIfTI-1 or NIfTI-2 byte by byte, so tests can state every
/// header field (including invalid ones) without committed binaries.
public struct RawNIfTI {
    /// 1 (348-byte header) or 2 (540-byte header).
    public var version = 1
    public var dim: [Int64] = [3, 2, 2, 2, 1, 1, 1, 1]
    public var datatype: Int16 = 16
    public var bitpix: Int16 = 32
    public var pixdim: [Double] = [1, 1, 1, 1, 0, 0, 0, 0]
    public var sclSlope: Double = 1
    public var sclInter: Double = 0
    public var qformCode: Int32 = 0
    public var sformCode: Int32 = 0
    /// quatern_b, c, d and qoffset_x, y, z.
    public var quatern: [Double] = [0, 0, 0]
    public var qoffset: [Double] = [0, 0, 0]
    /// Rows of the sform: srow_x, srow_y, srow_z (12 values).
    public var srow: [Double] = [1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0]
    /// nil means the standard magic for `version`.
    public var magic: [UInt8]?
    /// Byte offset of the voxels; nil means right after the header and extension flag.
    public var voxOffset: Double?
    /// Voxel bytes after the header and the 4-byte extension flag.
    public var data: [UInt8] = []

    public init(version: Int = 1) { self.version = version }

    /// Stores float32 voxels.
    public mutating func setFloatData(_ values: [Float]) {
        datatype = 16
        bitpix = 32
        data = values.flatMap { withUnsafeBytes(of: $0.bitPattern.littleEndian) { Array($0) } }
    }

    public var bytes: [UInt8] {
        let headerSize = version == 1 ? 348 : 540
        var b = [UInt8](repeating: 0, count: headerSize + 4)
        func put<T: FixedWidthInteger>(_ v: T, _ o: Int) {
            withUnsafeBytes(of: v.littleEndian) { for (n, x) in $0.enumerated() { b[o + n] = x } }
        }
        // NIfTI-1 stores reals as float32, NIfTI-2 as float64.
        func real(_ v: Double, _ o: Int) { if version == 1 { put(Float(v).bitPattern, o) } else { put(v.bitPattern, o) } }
        put(Int32(headerSize), 0)
        if version == 1 {
            for n in 0..<8 { put(Int16(dim[n]), 40 + 2 * n) }
            put(datatype, 70)
            put(bitpix, 72)
            for n in 0..<8 { real(pixdim[n], 76 + 4 * n) }
            real(voxOffset ?? 352, 108)
            real(sclSlope, 112)
            real(sclInter, 116)
            b[123] = 2  // xyzt_units: mm
            put(Int16(qformCode), 252)
            put(Int16(sformCode), 254)
            for n in 0..<3 { real(quatern[n], 256 + 4 * n) }
            for n in 0..<3 { real(qoffset[n], 268 + 4 * n) }
            for n in 0..<12 { real(srow[n], 280 + 4 * n) }
            for (n, x) in (magic ?? Array("n+1\0".utf8)).enumerated() { b[344 + n] = x }
        } else {
            for (n, x) in (magic ?? [0x6E, 0x2B, 0x32, 0, 0x0D, 0x0A, 0x1A, 0x0A]).enumerated() { b[4 + n] = x }
            put(datatype, 12)
            put(bitpix, 14)
            for n in 0..<8 { put(dim[n], 16 + 8 * n) }
            for n in 0..<8 { real(pixdim[n], 104 + 8 * n) }
            put(Int64(voxOffset ?? 544), 168)
            real(sclSlope, 176)
            real(sclInter, 184)
            put(qformCode, 344)
            put(sformCode, 348)
            for n in 0..<3 { real(quatern[n], 352 + 8 * n) }
            for n in 0..<3 { real(qoffset[n], 376 + 8 * n) }
            for n in 0..<12 { real(srow[n], 400 + 8 * n) }
            put(Int32(2), 500)  // xyzt_units: mm
        }
        return b + data
    }

    public func write(to path: String) throws {
        try Data(bytes).write(to: URL(fileURLWithPath: path))
    }
}

// MARK: - The built executable

/// Where a test needs the built binary or tmux: a skip on a developer machine, but a failure when
/// `AGG2EXP_REQUIRE_BINARY=1` (set by CI), so a broken build cannot pass as skipped tests.
public func missingPrerequisite(_ reason: String) -> Error {
    if ProcessInfo.processInfo.environment["AGG2EXP_REQUIRE_BINARY"] == "1" {
        return MissingPrerequisite(reason: reason)
    }
    return XCTSkip(reason)
}

/// A prerequisite that CI requires is absent.
public struct MissingPrerequisite: Error, CustomStringConvertible {
    public let reason: String
    public var description: String { "required in CI (AGG2EXP_REQUIRE_BINARY=1): \(reason)" }
}

/// The `agg2exp` binary built alongside the tests (same build directory), if present.
public func agg2expExecutable() -> URL? {
    // On Linux the test runner is itself an executable in the build directory.
    let runners = [URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath(), Bundle.main.bundleURL]
    for runner in runners {
        var dir = runner.deletingLastPathComponent()
        for _ in 0..<3 {
            let candidate = dir.appendingPathComponent("agg2exp")
            var isDir: ObjCBool = false
            if FileManager.default.fileExists(atPath: candidate.path, isDirectory: &isDir), !isDir.boolValue {
                return candidate
            }
            dir.deleteLastPathComponent()
        }
    }
    return nil
}

/// Runs the built `agg2exp` with `arguments`; returns exit status, stdout and stderr.
/// A run that outlives `timeout` seconds is killed (and reported as a hang by the status).
/// The attribution cache is off (AGG2EXP_CACHE_MB=0) unless `environment` says otherwise, so tests
/// neither read nor fill the user's cache.
public func runAgg2Exp(_ arguments: [String], environment: [String: String] = [:], timeout: Double = 120) throws
    -> (status: Int32, stdout: String, stderr: String) {
    guard let exe = agg2expExecutable() else {
        throw missingPrerequisite("agg2exp executable not built (run `swift build --product agg2exp` first)")
    }
    let process = Process()
    process.executableURL = exe
    process.arguments = arguments
    process.environment = ProcessInfo.processInfo.environment.merging(["AGG2EXP_CACHE_MB": "0"]) { $1 }
        .merging(environment) { $1 }
    let out = Pipe(), err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    DispatchQueue.global().asyncAfter(deadline: .now() + timeout) { if process.isRunning { process.terminate() } }
    let outData = out.fileHandleForReading.readDataToEndOfFile()
    let errData = err.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: outData, as: UTF8.self), String(decoding: errData, as: UTF8.self))
}
