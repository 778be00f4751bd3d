import CNifti
import Foundation

/// Voxel datatypes agg2exp reads (all of them) and writes (`uint8`, `int16`, `int32`, `float32`,
/// `float64`). Raw values are the NIfTI `DT_*` codes.
public enum NIfTIDatatype: Int32, Sendable, CaseIterable {
    case uint8 = 2
    case int16 = 4
    case int32 = 8
    case float32 = 16
    case float64 = 64
    case int8 = 256
    case uint16 = 512
    case uint32 = 768
    case int64 = 1024
    case uint64 = 1280

    public var name: String { String(cString: cnifti_datatype_name(rawValue)) }

    public var isInteger: Bool { self != .float32 && self != .float64 }

    /// The range of values an integer datatype can store exactly (nil for floats).
    public var integerRange: ClosedRange<Int64>? {
        switch self {
        case .uint8: return 0...255
        case .int8: return -128...127
        case .int16: return -32768...32767
        case .uint16: return 0...65535
        case .int32: return Int64(Int32.min)...Int64(Int32.max)
        case .uint32: return 0...Int64(UInt32.max)
        case .int64, .uint64: return Int64.min...Int64.max
        case .float32, .float64: return nil
        }
    }

    var isWritable: Bool { [.uint8, .int16, .int32, .float32, .float64].contains(self) }
}

/// Where a file's voxel→world affine came from (see `NIfTIHeader.affine`).
public enum AffineSource: String, Sendable {
    case sform, qform, pixdim
}

/// A typed NIfTI failure; the description always names the file.
public struct NIfTIError: Error, CustomStringConvertible, Equatable, Sendable {
    public enum Kind: Equatable, Sendable {
        case notFound
        case truncated(String)
        case badMagic
        case unreadable(String)
        case invalidDimensions(String)
        case tooLarge(voxels: Int64)
        case unsupportedDatatype(String)
        case notThreeDimensional(String)
        case singularAffine
        case notALabelMap(String)
        case badFileName
        case writeFailed(String)
        case invalidHeader(String)
        case invalidGeometry(String)
        case corruptCompression
        case gzipInPlainFile
    }

    public let path: String
    public let kind: Kind

    public init(path: String, kind: Kind) {
        self.path = path
        self.kind = kind
    }

    public var description: String {
        let problem: String
        switch kind {
        case .notFound: problem = "no such file"
        case .truncated(let what): problem = "file is truncated (\(what))"
        case .badMagic: problem = "not a NIfTI-1/NIfTI-2 file (bad header size or magic)"
        case .unreadable(let why): problem = "cannot read NIfTI file: \(why)"
        case .invalidDimensions(let why): problem = "invalid dimensions: \(why)"
        case .tooLarge(let n): problem = "\(n) voxels is more than the supported 2^31"
        case .unsupportedDatatype(let name): problem = "unsupported datatype \(name) (complex, RGB and bit data cannot be read as a scalar volume)"
        case .notThreeDimensional(let why): problem = "not a 3-D volume: \(why)"
        case .singularAffine: problem = "the voxel-to-world affine is singular or not finite"
        case .notALabelMap(let why): problem = "not a label map: \(why)"
        case .badFileName: problem = "file name must end in .nii or .nii.gz"
        case .writeFailed(let why): problem = "cannot write NIfTI file: \(why)"
        case .invalidHeader(let why): problem = "invalid header: \(why)"
        case .invalidGeometry(let why): problem = "unsupported geometry: \(why)"
        case .corruptCompression: problem = "the gzip data is corrupt (CRC or stream error)"
        case .gzipInPlainFile: problem = "holds gzip-compressed data but its name ends in .nii (expected .nii.gz)"
        }
        return "\(path): \(problem)"
    }
}

/// The header facts agg2exp relies on, with the affine already chosen.
public struct NIfTIHeader: Sendable {
    public var path: String
    /// 1 or 2.
    public var version: Int
    /// dim[1...dim[0]] as stored.
    public var dims: [Int]
    public var datatype: NIfTIDatatype
    /// pixdim[1...3] as stored.
    public var pixdim: [Double]
    public var qformCode: Int
    public var sformCode: Int
    /// The transform derived from the quaternion fields (meaningful when `qformCode > 0`).
    public var qform: Affine
    /// The transform stored in srow_x/y/z (meaningful when `sformCode > 0`).
    public var sform: Affine
    /// The voxel→world affine chosen by the rule in `affineSource`.
    public var affine: Affine
    public var affineSource: AffineSource
    /// Intensity scaling; nil when the file stores none (slope 0 or not finite).
    public var scaling: (slope: Double, intercept: Double)?

    /// The 3-D grid (dims padded with 1 for 1-D and 2-D images) and chosen affine.
    public var grid: Grid {
        Grid(dims: (0..<3).map { $0 < dims.count ? dims[$0] : 1 }, affine: affine)
    }
}

/// A volume with the facts gathered while reading it.
public struct VolumeReadResult: Sendable {
    public var volume: Volume
    public var header: NIfTIHeader
    /// Voxels that are NaN or ±Inf; they are kept as is so the volume stays usable.
    public var nanCount: Int
    public var infCount: Int
    public var nonFiniteCount: Int { nanCount + infCount }
}

/// NIfTI-1/NIfTI-2 reading and writing through libnifti.
///
/// Affine rule (nibabel `get_best_affine`): the sform if `sform_code > 0`, else the qform if
/// `qform_code > 0`, else NIfTI "method 1" scaling by pixdim with the origin at voxel (0,0,0)
/// (nibabel instead falls back to a centred, x-flipped ANALYZE affine; the NIfTI standard's method 1
/// is used here because a file with both codes 0 declares no orientation at all).
public enum NIfTI {
    /// Voxel counts above this are refused before any allocation.
    public static let maxVoxels: Int64 = 1 << 31

    public static func readHeader(_ path: String) throws -> NIfTIHeader {
        let (image, header) = try open(path)
        cnifti_close(image)
        return header
    }

    public static func readVolume(_ path: String) throws -> Volume {
        try readVolumeWithReport(path).volume
    }

    /// Reads intensities as Float32 with scl_slope/scl_inter applied, counting NaN/Inf voxels.
    public static func readVolumeWithReport(_ path: String) throws -> VolumeReadResult {
        let (image, header) = try open(path)
        defer { cnifti_close(image) }
        try load(image, path: path)
        let grid = header.grid
        let scale = header.scaling ?? (1, 0)
        var voxels = [Float](repeating: 0, count: grid.voxelCount)
        let status = voxels.withUnsafeMutableBufferPointer {
            cnifti_to_float(image, $0.baseAddress, Int64(grid.voxelCount), scale.slope, scale.intercept)
        }
        guard status == 0 else { throw NIfTIError(path: path, kind: .unsupportedDatatype(header.datatype.name)) }
        var nan = 0, inf = 0
        if !header.datatype.isInteger || header.scaling != nil {
            for v in voxels where !v.isFinite {
                if v.isNaN { nan += 1 } else { inf += 1 }
            }
        }
        return VolumeReadResult(volume: Volume(grid: grid, voxels: voxels), header: header,
                                nanCount: nan, infCount: inf)
    }

    /// Reads integer labels; float files are accepted when every voxel holds an integral value.
    public static func readLabelMap(_ path: String) throws -> LabelMap {
        try readLabelMapWithHeader(path).labels
    }

    public static func readLabelMapWithHeader(_ path: String) throws -> (labels: LabelMap, header: NIfTIHeader) {
        let (image, header) = try open(path)
        defer { cnifti_close(image) }
        try load(image, path: path)
        let grid = header.grid
        let scale = header.scaling ?? (1, 0)
        var labels = [Int32](repeating: 0, count: grid.voxelCount)
        var bad: Int64 = 0
        let status = labels.withUnsafeMutableBufferPointer {
            cnifti_to_int32(image, $0.baseAddress, Int64(grid.voxelCount), scale.slope, scale.intercept, &bad)
        }
        guard status == 0 else { throw NIfTIError(path: path, kind: .unsupportedDatatype(header.datatype.name)) }
        guard bad == 0 else {
            throw NIfTIError(path: path, kind: .notALabelMap("\(bad) voxels are not integers in the Int32 range"))
        }
        return (LabelMap(grid: grid, labels: labels), header)
    }

    /// Writes a NIfTI-1 volume atomically (temporary file in the same directory, then rename) with
    /// both sform and qform set to the volume's affine. Integer datatypes round and clamp.
    public static func write(_ volume: Volume, to path: String, datatype: NIfTIDatatype = .float32) throws {
        try writeAtomically(path, datatype: datatype, grid: volume.grid) { tmp, dims, affine, err in
            volume.voxels.withUnsafeBufferPointer {
                cnifti_write_float(tmp, dims, affine, datatype.rawValue, $0.baseAddress, err, 512)
            }
        }
    }

    /// Writes a label map atomically; every label must fit `datatype`.
    public static func write(_ labels: LabelMap, to path: String, datatype: NIfTIDatatype = .uint8) throws {
        if let range = datatype.integerRange, let lo = labels.labels.min(), let hi = labels.labels.max(),
           !(range.contains(Int64(lo)) && range.contains(Int64(hi))) {
            throw NIfTIError(path: path, kind: .writeFailed("labels \(lo)…\(hi) do not fit \(datatype.name)"))
        }
        try writeAtomically(path, datatype: datatype, grid: labels.grid) { tmp, dims, affine, err in
            labels.labels.withUnsafeBufferPointer {
                cnifti_write_int32(tmp, dims, affine, datatype.rawValue, $0.baseAddress, err, 512)
            }
        }
    }

    // MARK: - Internals

    private static func writeAtomically(
        _ path: String, datatype: NIfTIDatatype, grid: Grid,
        _ body: (String, UnsafePointer<Int64>, UnsafePointer<Double>, UnsafeMutablePointer<CChar>) -> Int32
    ) throws {
        guard datatype.isWritable else {
            throw NIfTIError(path: path, kind: .writeFailed("cannot write datatype \(datatype.name)"))
        }
        let ext: String
        if path.hasSuffix(".nii.gz") { ext = ".nii.gz" } else if path.hasSuffix(".nii") { ext = ".nii" } else {
            throw NIfTIError(path: path, kind: .badFileName)
        }
        guard grid.affine.inverse != nil else { throw NIfTIError(path: path, kind: .singularAffine) }
        let dims = grid.dims.map { Int64($0) }
        do {
            // The temporary keeps the real extension so libnifti picks the same compression.
            cnifti_set_quiet(1)
            try AtomicFile.replace(path, suffix: ext) { (tmp: String) throws(FileWriteError) in
                var err = [CChar](repeating: 0, count: 512)
                let status = dims.withUnsafeBufferPointer { d in
                    grid.affine.m.withUnsafeBufferPointer { a in
                        err.withUnsafeMutableBufferPointer { e in body(tmp, d.baseAddress!, a.baseAddress!, e.baseAddress!) }
                    }
                }
                guard status == 0 else {
                    let code = errno
                    var message = String(decoding: err.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
                    if code == EFBIG || code == ENOSPC || code == EDQUOT { message = FileWriteError.reason(code) }
                    throw FileWriteError(path: path, problem: message)
                }
            }
        } catch {
            throw NIfTIError(path: path, kind: .writeFailed(error.problem))
        }
    }

    private static func load(_ image: OpaquePointer, path: String) throws {
        switch cnifti_load(image) {
        case 0: return
        case -3: throw NIfTIError(path: path, kind: .corruptCompression)
        default: throw NIfTIError(path: path, kind: .truncated("voxel data is incomplete or corrupt"))
        }
    }

    /// Validates the raw header, then opens the file with libnifti (header only).
    private static func open(_ path: String) throws -> (OpaquePointer, NIfTIHeader) {
        do {
            try FileChecks.requireRegularFile(path)
        } catch {
            if case .missing = FileChecks.kind(path) { throw NIfTIError(path: path, kind: .notFound) }
            throw NIfTIError(path: path, kind: .unreadable(error.problem))
        }
        if !path.hasSuffix(".gz"), startsWithGzipMagic(path) { throw NIfTIError(path: path, kind: .gzipInPlainFile) }
        let version = try checkRawHeader(path)
        cnifti_set_quiet(1)
        var h = cnifti_header()
        guard let image = cnifti_open(path, &h) else {
            throw NIfTIError(path: path, kind: .unreadable("libnifti rejected the header"))
        }
        do {
            return (image, try makeHeader(h, version: version, path: path))
        } catch {
            cnifti_close(image)
            throw error
        }
    }

    /// True when the file begins with the gzip magic bytes 1f 8b.
    private static func startsWithGzipMagic(_ path: String) -> Bool {
        guard let handle = FileHandle(forReadingAtPath: path) else { return false }
        defer { try? handle.close() }
        return (try? handle.read(upToCount: 2)) == Data([0x1F, 0x8B])
    }

    /// Checks size, magic, dims and datatype on the raw bytes so each problem gets its own error
    /// (libnifti would report all of them as one failure, or try to allocate a huge buffer).
    private static func checkRawHeader(_ path: String) throws -> Int {
        var bytes = [UInt8](repeating: 0, count: 540)
        let got = bytes.withUnsafeMutableBytes { cnifti_peek(path, $0.baseAddress, 540) }
        guard got >= 0 else { throw NIfTIError(path: path, kind: .unreadable("cannot open file")) }
        guard got >= 4 else { throw NIfTIError(path: path, kind: .truncated("\(got) header bytes")) }
        let size = RawReader(bytes: bytes, swapped: false).int32(0)
        let swappedSize = RawReader(bytes: bytes, swapped: true).int32(0)
        let version: Int
        let swapped: Bool
        switch (size, swappedSize) {
        case (348, _): (version, swapped) = (1, false)
        case (_, 348): (version, swapped) = (1, true)
        case (540, _): (version, swapped) = (2, false)
        case (_, 540): (version, swapped) = (2, true)
        default: throw NIfTIError(path: path, kind: .badMagic)
        }
        let headerSize = version == 1 ? 348 : 540
        guard got >= headerSize else { throw NIfTIError(path: path, kind: .truncated("\(got) of \(headerSize) header bytes")) }
        let r = RawReader(bytes: bytes, swapped: swapped)
        let magicOK: Bool
        let dims: [Int64]
        let datatype: Int32
        if version == 1 {
            let magic = Array(bytes[344..<348])
            magicOK = magic == Array("n+1\0".utf8) || magic == Array("ni1\0".utf8)
            dims = (0..<8).map { Int64(r.int16(40 + 2 * $0)) }
            datatype = Int32(r.int16(70))
        } else {
            let magic = Array(bytes[4..<12])
            magicOK = magic == [0x6E, 0x2B, 0x32, 0, 0x0D, 0x0A, 0x1A, 0x0A] || magic == [0x6E, 0x69, 0x32, 0, 0x0D, 0x0A, 0x1A, 0x0A]
            dims = (0..<8).map { r.int64(16 + 8 * $0) }
            datatype = Int32(r.int16(12))
        }
        guard magicOK else { throw NIfTIError(path: path, kind: .badMagic) }
        try checkDims(dims, path: path)
        let singleFile = version == 1 ? bytes[345] == UInt8(ascii: "+") : bytes[5] == UInt8(ascii: "+")
        let voxOffset = version == 1 ? Double(Float(bitPattern: UInt32(bitPattern: r.int32(108)))) : Double(r.int64(168))
        try checkVoxOffset(voxOffset, headerSize: headerSize, singleFile: singleFile, path: path)
        guard NIfTIDatatype(rawValue: datatype) != nil else {
            throw NIfTIError(path: path, kind: .unsupportedDatatype(String(cString: cnifti_datatype_name(datatype))))
        }
        return version
    }

    /// The byte offset of the voxels must be a whole number past the header (352 or 544 for a
    /// single .nii file); libnifti would silently replace a non-finite or huge one with the
    /// header size and read a header extension as voxels.
    private static func checkVoxOffset(_ offset: Double, headerSize: Int, singleFile: Bool, path: String) throws {
        let minimum = singleFile ? Double(headerSize + 4) : 0
        guard offset.isFinite, offset == offset.rounded(), offset >= minimum, offset <= Double(1 << 40) else {
            throw NIfTIError(path: path, kind: .invalidHeader(
                "vox_offset \(offset) must be a whole number of bytes in \(Int(minimum))…2^40"))
        }
    }

    private static func checkDims(_ dim: [Int64], path: String) throws {
        let ndim = Int(dim[0])
        guard (1...7).contains(ndim) else {
            throw NIfTIError(path: path, kind: .invalidDimensions("dim[0] = \(ndim), expected 1…7"))
        }
        let extents = Array(dim[1...ndim])
        guard extents.allSatisfy({ $0 > 0 }) else {
            throw NIfTIError(path: path, kind: .invalidDimensions("dims \(extents.map(String.init).joined(separator: "×")) include a value ≤ 0"))
        }
        if ndim >= 4, extents[3...].contains(where: { $0 > 1 }) {
            let why = ndim == 4 ? "4-D data with nt = \(extents[3])"
                : "\(ndim)-D data with dims \(extents.map(String.init).joined(separator: "×"))"
            throw NIfTIError(path: path, kind: .notThreeDimensional(why))
        }
        var count: Int64 = 1
        for e in extents.prefix(3) {
            let (p, overflow) = count.multipliedReportingOverflow(by: e)
            guard !overflow else { throw NIfTIError(path: path, kind: .tooLarge(voxels: Int64.max)) }
            count = p
        }
        guard count <= maxVoxels else { throw NIfTIError(path: path, kind: .tooLarge(voxels: count)) }
    }

    private static func makeHeader(_ h: cnifti_header, version: Int, path: String) throws -> NIfTIHeader {
        let dimAll = withUnsafeBytes(of: h.dim) { Array($0.bindMemory(to: Int64.self)) }
        try checkDims(dimAll, path: path)
        guard let datatype = NIfTIDatatype(rawValue: h.datatype) else {
            throw NIfTIError(path: path, kind: .unsupportedDatatype(String(cString: cnifti_datatype_name(h.datatype))))
        }
        let pix = withUnsafeBytes(of: h.pixdim) { Array($0.bindMemory(to: Double.self)) }
        let qform = Affine(rowMajor: withUnsafeBytes(of: h.qform) { Array($0.bindMemory(to: Double.self)) })
        let sform = Affine(rowMajor: withUnsafeBytes(of: h.sform) { Array($0.bindMemory(to: Double.self)) })
        let pixdim = Array(pix[1...3])
        let affine: Affine
        let source: AffineSource
        if h.sform_code > 0 {
            (affine, source) = (sform, .sform)
        } else if h.qform_code > 0 {
            (affine, source) = (qform, .qform)
        } else {
            // A zero pixdim becomes 1, as nibabel and libnifti do.
            let s = pixdim.map { $0 == 0 ? 1 : $0 }
            (affine, source) = (Affine.scaling(s), .pixdim)
        }
        guard affine.m.allSatisfy(\.isFinite), affine.inverse != nil else {
            throw NIfTIError(path: path, kind: .singularAffine)
        }
        if let problem = GeometryDomain.spacingProblem(Grid(dims: [1, 1, 1], affine: affine).spacing) {
            throw NIfTIError(path: path, kind: .invalidGeometry(problem))
        }
        let slope = h.scl_slope, inter = h.scl_inter
        let scaling: (Double, Double)? = slope.isFinite && slope != 0 && !(slope == 1 && (inter == 0 || !inter.isFinite))
            ? (slope, inter.isFinite ? inter : 0) : nil
        return NIfTIHeader(path: path, version: version,
                           dims: dimAll[1...Int(dimAll[0])].map { Int($0) }, datatype: datatype,
                           pixdim: pixdim, qformCode: Int(h.qform_code), sformCode: Int(h.sform_code),
                           qform: qform, sform: sform, affine: affine, affineSource: source, scaling: scaling)
    }
}

/// Reads integers out of a raw header in either byte order.
private struct RawReader {
    let bytes: [UInt8]
    let swapped: Bool

    func int16(_ o: Int) -> Int16 {
        let v = UInt16(bytes[o]) | UInt16(bytes[o + 1]) << 8
        return Int16(bitPattern: swapped ? v.byteSwapped : v)
    }

    func int32(_ o: Int) -> Int32 {
        var v: UInt32 = 0
        for b in 0..<4 { v |= UInt32(bytes[o + b]) << (8 * b) }
        return Int32(bitPattern: swapped ? v.byteSwapped : v)
    }

    func int64(_ o: Int) -> Int64 {
        var v: UInt64 = 0
        for b in 0..<8 { v |= UInt64(bytes[o + b]) << (8 * b) }
        return Int64(bitPattern: swapped ? v.byteSwapped : v)
    }
}
