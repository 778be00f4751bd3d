import CNifti
import Engine
import Foundation
import TestSupport
import XCTest

/// NIfTI reading/writing, including every malformed-input case, each crafted inside the test.
final class NIfTITests: XCTestCase {
    private var dir = ""

    override func setUpWithError() throws {
        dir = try makeTemporaryDirectory(self)
    }

    private func expectError(_ path: String, _ read: (String) throws -> Any = { try NIfTI.readVolume($0) },
                             file: StaticString = #filePath, line: UInt = #line,
                             _ check: (NIfTIError.Kind) -> Bool) {
        do {
            _ = try read(path)
            XCTFail("expected an error reading \(path)", file: file, line: line)
        } catch let error as NIfTIError {
            XCTAssertEqual(error.path, path, file: file, line: line)
            XCTAssertTrue(error.description.hasPrefix(path + ": "), error.description, file: file, line: line)
            XCTAssertTrue(check(error.kind), "unexpected kind: \(error)", file: file, line: line)
        } catch {
            XCTFail("untyped error \(error)", file: file, line: line)
        }
    }

    // MARK: round trips

    func testRoundTripKeepsValuesAndAffine() throws {
        // An oblique, anisotropic affine with flipped axes exercises sform and qform together.
        let c = cos(0.3), s = sin(0.3)
        let affine = Affine(rowMajor: [-0.8 * c, 0, 2.5 * s, 10, -0.8 * s, 0, -2.5 * c, -20,
                                       0, 1.2, 0, 30, 0, 0, 0, 1])
        let vol = makeVolume(dims: [4, 3, 2], affine: affine) { i, j, k in Float(i) - 2.5 * Float(j) + 100 * Float(k) + 0.125 }
        for name in ["a.nii", "b.nii.gz"] {
            let path = dir + "/" + name
            try NIfTI.write(vol, to: path)
            let header = try NIfTI.readHeader(path)
            XCTAssertEqual(header.version, 1, name)
            XCTAssertEqual(header.dims, [4, 3, 2])
            XCTAssertEqual(header.datatype, .float32)
            XCTAssertEqual(header.sformCode, 1)
            XCTAssertEqual(header.qformCode, 1)
            XCTAssertEqual(header.affineSource, .sform)
            // float32 storage of srow: ~1e-6 relative.
            assertAffineClose(header.affine, affine, tol: 1e-5)
            // The qform is a rotation with qfac, so it reproduces this (shear-free) affine too.
            assertAffineClose(header.qform, affine, tol: 1e-4)
            assertAllClose(header.pixdim, [0.8, 1.2, 2.5], absTol: 1e-6)
            let back = try NIfTI.readVolume(path)
            XCTAssertEqual(back.voxels, vol.voxels, name)
        }
        // No temporary files are left behind.
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir).sorted(), ["a.nii", "b.nii.gz"])
    }

    func testReadsNIfTI2() throws {
        var raw = RawNIfTI(version: 2)
        raw.dim = [3, 2, 1, 2, 1, 1, 1, 1]
        raw.setFloatData([1.5, -2, 3, 1e6])
        raw.sformCode = 2
        raw.srow = [0, 0, -2, 5, -0.5, 0, 0, 6, 0, 3, 0, 7]
        try raw.write(to: dir + "/n2.nii")
        let result = try NIfTI.readVolumeWithReport(dir + "/n2.nii")
        XCTAssertEqual(result.header.version, 2)
        XCTAssertEqual(result.volume.voxels, [1.5, -2, 3, 1e6])
        assertAffineClose(result.volume.grid.affine,
                          Affine(rowMajor: raw.srow.map { $0 } + [0, 0, 0, 1]), tol: 0)
        XCTAssertEqual(Orientation.code(for: result.volume.grid.affine), "PSL")
    }

    func testGzipIsRealCompression() throws {
        let vol = makeVolume(dims: [16, 16, 16]) { _, _, _ in 7 }
        try NIfTI.write(vol, to: dir + "/z.nii.gz")
        let gz = try Data(contentsOf: URL(fileURLWithPath: dir + "/z.nii.gz"))
        XCTAssertEqual(Array(gz.prefix(2)), [0x1F, 0x8B])
        XCTAssertLessThan(gz.count, 16 * 16 * 16 * 4 / 4)
    }

    func testIntegerDatatypesRoundAndClampOnWrite() throws {
        let vol = makeVolume(dims: [4, 1, 1]) { i, _, _ in [-40000, -1.6, 2.5, 40000][i] }
        try NIfTI.write(vol, to: dir + "/i16.nii", datatype: .int16)
        XCTAssertEqual(try NIfTI.readHeader(dir + "/i16.nii").datatype, .int16)
        // nearbyint: ties to even.
        XCTAssertEqual(try NIfTI.readVolume(dir + "/i16.nii").voxels, [-32768, -2, 2, 32767])
        try NIfTI.write(vol, to: dir + "/u8.nii", datatype: .uint8)
        XCTAssertEqual(try NIfTI.readVolume(dir + "/u8.nii").voxels, [0, 0, 2, 255])
    }

    func testLabelMapRoundTripAndRangeCheck() throws {
        let labels = makeLabelMap(dims: [3, 2, 2], affine: .scaling([2, 2, 3])) { i, j, k in Int32(i + 3 * j + 6 * k) * 30 }
        try NIfTI.write(labels, to: dir + "/l.nii.gz", datatype: .int16)
        let back = try NIfTI.readLabelMap(dir + "/l.nii.gz")
        XCTAssertEqual(back.labels, labels.labels)
        XCTAssertTrue(back.grid.matches(labels.grid))
        do {
            try NIfTI.write(labels, to: dir + "/l8.nii.gz", datatype: .uint8)
            XCTFail("330 does not fit uint8")
        } catch let e as NIfTIError {
            XCTAssertEqual(e.path, dir + "/l8.nii.gz")
            guard case .writeFailed = e.kind else { return XCTFail("\(e)") }
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/l8.nii.gz"))
    }

    func testWriteRejectsOtherExtensions() {
        let vol = makeVolume(dims: [1, 1, 1]) { _, _, _ in 0 }
        XCTAssertThrowsError(try NIfTI.write(vol, to: dir + "/x.img")) { error in
            XCTAssertEqual((error as? NIfTIError)?.kind, .badFileName)
        }
    }

    /// Every stored datatype is read with the value it holds.
    func testAllReadableDatatypes() throws {
        let values: [Double] = [0, 1, 100, 7]
        let cases: [(Int32, Int16, (Double) -> [UInt8])] = [
            (2, 8, { [UInt8($0)] }),
            (256, 8, { withUnsafeBytes(of: Int8($0)) { Array($0) } }),
            (4, 16, { withUnsafeBytes(of: Int16($0).littleEndian) { Array($0) } }),
            (512, 16, { withUnsafeBytes(of: UInt16($0).littleEndian) { Array($0) } }),
            (8, 32, { withUnsafeBytes(of: Int32($0).littleEndian) { Array($0) } }),
            (768, 32, { withUnsafeBytes(of: UInt32($0).littleEndian) { Array($0) } }),
            (1024, 64, { withUnsafeBytes(of: Int64($0).littleEndian) { Array($0) } }),
            (16, 32, { withUnsafeBytes(of: Float($0).bitPattern.littleEndian) { Array($0) } }),
            (64, 64, { withUnsafeBytes(of: $0.bitPattern.littleEndian) { Array($0) } }),
        ]
        for (code, bits, encode) in cases {
            var raw = RawNIfTI()
            raw.dim = [3, 2, 2, 1, 1, 1, 1, 1]
            raw.datatype = Int16(code)
            raw.bitpix = bits
            raw.data = values.flatMap(encode)
            let path = dir + "/dt\(code).nii"
            try raw.write(to: path)
            XCTAssertEqual(try NIfTI.readHeader(path).datatype.rawValue, code)
            XCTAssertEqual(try NIfTI.readVolume(path).voxels, values.map(Float.init), "datatype \(code)")
            XCTAssertEqual(try NIfTI.readLabelMap(path).labels, values.map { Int32($0) }, "datatype \(code)")
        }
    }

    func testScaleSlopeAndInterceptApplyAndSlopeZeroMeansNone() throws {
        var raw = RawNIfTI()
        raw.dim = [3, 2, 1, 1, 1, 1, 1, 1]
        raw.datatype = 4
        raw.bitpix = 16
        raw.data = [10, 0, 0xFE, 0xFF]  // int16 10, -2
        raw.sclSlope = 0.5
        raw.sclInter = -1024
        try raw.write(to: dir + "/s.nii")
        XCTAssertEqual(try NIfTI.readVolume(dir + "/s.nii").voxels, [-1019, -1025])
        raw.sclSlope = 0
        try raw.write(to: dir + "/s0.nii")
        XCTAssertEqual(try NIfTI.readVolume(dir + "/s0.nii").voxels, [10, -2])
    }

    func testFourDWithOneTimepointIsAccepted() throws {
        var raw = RawNIfTI()
        raw.dim = [4, 2, 1, 1, 1, 1, 1, 1]
        raw.setFloatData([3, 4])
        try raw.write(to: dir + "/t1.nii")
        let v = try NIfTI.readVolume(dir + "/t1.nii")
        XCTAssertEqual(v.grid.dims, [2, 1, 1])
        XCTAssertEqual(v.voxels, [3, 4])
    }

    // MARK: bad input

    func testTruncatedGzip() throws {
        let vol = makeVolume(dims: [20, 20, 20]) { i, j, k in Float(i * j + k) }
        try NIfTI.write(vol, to: dir + "/full.nii.gz")
        let data = try Data(contentsOf: URL(fileURLWithPath: dir + "/full.nii.gz"))
        try data.prefix(data.count / 2).write(to: URL(fileURLWithPath: dir + "/half.nii.gz"))
        expectError(dir + "/half.nii.gz") { if case .truncated = $0 { return true }; return false }
        try data.prefix(40).write(to: URL(fileURLWithPath: dir + "/head.nii.gz"))
        expectError(dir + "/head.nii.gz") { if case .truncated = $0 { return true }; return false }
    }

    func testWrongMagic() throws {
        var raw = RawNIfTI()
        raw.setFloatData(Array(repeating: 1, count: 8))
        raw.magic = Array("abc\0".utf8)
        try raw.write(to: dir + "/magic.nii")
        expectError(dir + "/magic.nii") { $0 == .badMagic }
        try Data("hello, not an image at all".utf8).write(to: URL(fileURLWithPath: dir + "/text.nii"))
        expectError(dir + "/text.nii") { $0 == .badMagic }
    }

    func testMissingFile() {
        expectError(dir + "/nope.nii.gz") { $0 == .notFound }
    }

    func testDimsZeroOrNegative() throws {
        for dims: [Int64] in [[3, 2, 0, 2, 1, 1, 1, 1], [3, 2, -4, 2, 1, 1, 1, 1], [0, 2, 2, 2, 1, 1, 1, 1]] {
            var raw = RawNIfTI()
            raw.setFloatData(Array(repeating: 1, count: 8))
            raw.dim = dims
            try raw.write(to: dir + "/d.nii")
            expectError(dir + "/d.nii") { if case .invalidDimensions = $0 { return true }; return false }
        }
    }

    func testUncompressedFileShorterThanItsDimsIsTruncated() throws {
        var raw = RawNIfTI()
        raw.setFloatData([1, 2, 3])
        raw.dim = [3, 1000, 1000, 500, 1, 1, 1, 1]  // claims 2 GB of voxels, holds 12 bytes
        try raw.write(to: dir + "/short.nii")
        expectError(dir + "/short.nii") { if case .truncated = $0 { return true }; return false }
    }

    func testTooManyVoxelsIsRefusedBeforeAllocating() throws {
        var raw = RawNIfTI()
        raw.dim = [3, 32767, 32767, 4, 1, 1, 1, 1]  // 4.3e9 voxels, header only
        raw.setFloatData([1])
        raw.dim = [3, 32767, 32767, 4, 1, 1, 1, 1]
        try raw.write(to: dir + "/huge.nii")
        expectError(dir + "/huge.nii") { $0 == .tooLarge(voxels: 32767 * 32767 * 4) }
    }

    func testComplexAndRGBAreUnsupported() throws {
        for (code, bits) in [(Int16(32), Int16(64)), (128, 24), (1792, 128), (2304, 32)] {
            var raw = RawNIfTI()
            raw.datatype = code
            raw.bitpix = bits
            raw.data = [UInt8](repeating: 0, count: 8 * Int(bits) / 8)
            try raw.write(to: dir + "/c.nii")
            expectError(dir + "/c.nii") { if case .unsupportedDatatype = $0 { return true }; return false }
        }
    }

    func testFiveDAndMultipleTimepointsAreRejected() throws {
        var raw = RawNIfTI()
        raw.setFloatData(Array(repeating: 1, count: 16))
        raw.dim = [4, 2, 2, 2, 2, 1, 1, 1]
        try raw.write(to: dir + "/4d.nii")
        expectError(dir + "/4d.nii") { $0 == .notThreeDimensional("4-D data with nt = 2") }
        raw.dim = [5, 2, 2, 2, 1, 2, 1, 1]
        try raw.write(to: dir + "/5d.nii")
        expectError(dir + "/5d.nii") { $0 == .notThreeDimensional("5-D data with dims 2×2×2×1×2") }
    }

    func testSingularAffine() throws {
        var raw = RawNIfTI()
        raw.setFloatData(Array(repeating: 1, count: 8))
        raw.sformCode = 1
        raw.srow = [1, 2, 0, 0, 2, 4, 0, 0, 0, 0, 1, 0]  // first two columns parallel
        try raw.write(to: dir + "/sing.nii")
        expectError(dir + "/sing.nii") { $0 == .singularAffine }
        raw.srow = [1, 0, 0, 0, 0, 1, 0, 0, 0, 0, .nan, 0]
        try raw.write(to: dir + "/nan-affine.nii")
        expectError(dir + "/nan-affine.nii") { $0 == .singularAffine }
    }

    func testNaNAndInfAreCountedAndVolumeStaysUsable() throws {
        var raw = RawNIfTI()
        raw.setFloatData([1, .nan, 3, .infinity, -.infinity, 6, .nan, 8])
        try raw.write(to: dir + "/nan.nii")
        let result = try NIfTI.readVolumeWithReport(dir + "/nan.nii")
        XCTAssertEqual(result.nanCount, 2)
        XCTAssertEqual(result.infCount, 2)
        XCTAssertEqual(result.nonFiniteCount, 4)
        XCTAssertEqual(result.volume.voxels[0], 1)
        XCTAssertEqual(result.volume.voxels[7], 8)
        // As a label map the non-integral voxels are an error, not silent zeros.
        expectError(dir + "/nan.nii", { try NIfTI.readLabelMap($0) }) {
            $0 == .notALabelMap("4 voxels are not integers in the Int32 range")
        }
    }

    func testFractionalLabelsAreRejected() throws {
        var raw = RawNIfTI()
        raw.setFloatData([0, 1, 2, 2.5, 0, 0, 0, 0])
        try raw.write(to: dir + "/frac.nii")
        expectError(dir + "/frac.nii", { try NIfTI.readLabelMap($0) }) {
            $0 == .notALabelMap("1 voxels are not integers in the Int32 range")
        }
    }

    // MARK: sample data

    func testSampleScanGeometryAndRange() throws {
        let path = try XCTUnwrap(SampleData.scanPath)
        let result = try NIfTI.readVolumeWithReport(path)
        let v = result.volume
        XCTAssertEqual(v.grid.dims, [122, 101, 112])
        assertAllClose(v.grid.spacing, [3, 3, 3], absTol: 1e-6)
        XCTAssertEqual(Orientation.code(for: v.grid.affine), "RAS")
        XCTAssertEqual(result.header.datatype, .int32)
        XCTAssertEqual(result.header.affineSource, .sform)
        XCTAssertEqual(v.voxels.min(), -1207)
        XCTAssertEqual(v.voxels.max(), 3382)
        XCTAssertEqual(result.nonFiniteCount, 0)
        // Origin from the stored srow (nibabel: -177.95632935, 11.31900024, 94.30175781).
        let o = v.grid.world(0, 0, 0)
        assertAllClose([o.x, o.y, o.z], [-177.95632935, 11.31900024, 94.30175781], absTol: 1e-5)
    }

    func testSampleLabelsLieOnTheScanGrid() throws {
        let scan = try NIfTI.readHeader(try XCTUnwrap(SampleData.scanPath))
        let labelsPath = try XCTUnwrap(SampleData.labelsPath)
        let labels = try NIfTI.readLabelMap(labelsPath)
        XCTAssertNoThrow(try labels.ensureOnGrid(of: scan.grid, labelPath: labelsPath, scanPath: scan.path))
        XCTAssertEqual(Set(labels.labels).subtracting([0]).count, 61)
    }

    func testLibniftiIsTheOneLinked() {
        XCTAssertEqual(String(cString: cnifti_datatype_name(16)), "FLOAT32")
        XCTAssertEqual(String(cString: cnifti_datatype_name(2304)), "RGBA32")
    }
}
