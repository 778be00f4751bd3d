import Foundation
import ZIPFoundation

/// A problem with a PyTorch checkpoint; the message names the file.
public struct PyTorchCheckpointError: Error, CustomStringConvertible, LocalizedError {
    public let path: String
    public let problem: String

    public var description: String { "\(path): \(problem)" }
    public var errorDescription: String? { description }
}

/// A non-tensor value of a checkpoint (nnU-Net's `trainer_name`, `init_args`, …), as plain data.
public indirect enum CheckpointValue: Sendable, Equatable {
    case none
    case bool(Bool)
    case int(Int)
    case float(Double)
    case string(String)
    case bytes([UInt8])
    case list([CheckpointValue])
    /// Dicts keep their insertion order.
    case dict([(key: CheckpointValue, value: CheckpointValue)])
    /// A tensor, by shape (its values are read through `PyTorchCheckpoint.tensors`).
    case tensor(shape: [Int])
    /// `torch.device("cuda:0")` and similar bookkeeping objects, by description.
    case opaque(String)

    public static func == (a: CheckpointValue, b: CheckpointValue) -> Bool {
        switch (a, b) {
        case (.none, .none): return true
        case let (.bool(x), .bool(y)): return x == y
        case let (.int(x), .int(y)): return x == y
        case let (.float(x), .float(y)): return x == y
        case let (.string(x), .string(y)): return x == y
        case let (.bytes(x), .bytes(y)): return x == y
        case let (.list(x), .list(y)): return x == y
        case let (.dict(x), .dict(y)):
            return x.count == y.count && zip(x, y).allSatisfy { $0.key == $1.key && $0.value == $1.value }
        case let (.tensor(x), .tensor(y)): return x == y
        case let (.opaque(x), .opaque(y)): return x == y
        default: return false
        }
    }

    /// The value under a string key of a dict.
    public subscript(_ key: String) -> CheckpointValue? {
        guard case .dict(let items) = self else { return nil }
        return items.first { $0.key == .string(key) }?.value
    }

    public var string: String? { if case .string(let s) = self { return s } else { return nil } }
}

/// A checkpoint written by `torch.save` (PyTorch ≥ 1.6 zip format): `ARCHIVE/data.pkl` (the
/// pickled object), `ARCHIVE/data/N` (raw storages) and `ARCHIVE/byteorder`.
///
/// The pickle is read by a restricted unpickler with `torch.load(weights_only=True)`
/// semantics: it rebuilds tensors (`torch._utils._rebuild_tensor_v2` / `_rebuild_parameter`
/// over Float, Half, BFloat16, Double, Long and Int storages, with strides and offsets),
/// OrderedDict, dict, list, tuple, set, numbers, strings, bytes, bool and None, plus the
/// data-only bookkeeping objects training checkpoints carry (`torch.device`, NumPy scalars
/// decoded from their bytes). Any other global is refused by name; nothing is ever executed.
///
/// The state_dict is the dict under `state_dict`, `model` or `network_weights`, or the top
/// level; `module.` (DataParallel) and `_orig_mod.` (torch.compile) prefixes are stripped.
public struct PyTorchCheckpoint: Sendable {
    public struct Entry: Sendable, Equatable {
        /// Safetensors-style dtype name: F32, F16, BF16, F64, I64, I32.
        public let dtype: String
        public let shape: [Int]
        fileprivate let floats: [Float]?
        fileprivate let integers: [Int]?

        public var isFloatingPoint: Bool { floats != nil }
    }

    public let path: String
    /// The state_dict, prefixes stripped.
    public let entries: [String: Entry]
    /// The whole unpickled object, tensors replaced by their shapes.
    public let root: CheckpointValue

    public init(path: String) throws(PyTorchCheckpointError) {
        func fail(_ problem: String) -> PyTorchCheckpointError { PyTorchCheckpointError(path: path, problem: problem) }
        guard let head = FileHandle(forReadingAtPath: path) else {
            throw fail(FileManager.default.fileExists(atPath: path) ? "cannot be read" : "file not found")
        }
        let magic = (try? head.read(upToCount: 4)) ?? Data()
        try? head.close()
        if magic.first == 0x80 {
            throw fail("legacy (pre-1.6, non-zip) PyTorch format is not supported; re-save it with "
                + "python -c \"import torch; torch.save(torch.load('FILE', weights_only=False), 'FILE')\"")
        }
        guard magic.starts(with: [0x50, 0x4B]) else {
            throw fail("not a PyTorch checkpoint (neither a zip archive nor a pickle)")
        }
        let archive: Archive
        do {
            archive = try Archive(url: URL(fileURLWithPath: path), accessMode: .read)
        } catch {
            throw fail("corrupt or truncated zip archive (\(error))")
        }
        var members: [String: ZIPFoundation.Entry] = [:]
        for entry in archive where entry.type == .file { members[entry.path] = entry }
        guard let pickleName = members.keys.sorted().first(where: { $0.hasSuffix("/data.pkl") || $0 == "data.pkl" }) else {
            throw fail("zip archive without data.pkl: not a torch.save checkpoint")
        }
        let prefix = String(pickleName.dropLast("data.pkl".count))
        func read(_ name: String) throws(PyTorchCheckpointError) -> Data {
            guard let member = members[name] else { throw fail("missing archive member \(name)") }
            var bytes = Data()
            let checksum: CRC32
            do {
                checksum = try archive.extract(member, skipCRC32: false) { bytes.append($0) }
            } catch {
                throw fail("corrupt archive member \(name) (\(error))")
            }
            // Extraction to memory computes the CRC-32 but leaves checking it to the caller.
            guard checksum == member.checksum else {
                throw fail("corrupt archive member \(name): CRC-32 mismatch")
            }
            return bytes
        }
        if members["\(prefix)byteorder"] != nil {
            let order = String(decoding: try read("\(prefix)byteorder"), as: UTF8.self)
            guard order == "little" else { throw fail("byteorder '\(order)' is not supported (only little-endian)") }
        }
        var unpickler = Unpickler(data: try read(pickleName))
        let object: PickleValue
        do {
            object = try unpickler.load()
        } catch {
            throw fail("data.pkl: \(error.message)")
        }
        var storageCache: [String: Data] = [:]
        var converted: [ObjectIdentifier: Entry] = [:]
        func tensorEntry(_ t: PickledTensor, name: String) throws(PyTorchCheckpointError) -> Entry {
            if let done = converted[ObjectIdentifier(t)] { return done }
            let storage = t.storage
            if storageCache[storage.key] == nil { storageCache[storage.key] = try read("\(prefix)data/\(storage.key)") }
            let bytes = storageCache[storage.key]!
            let available = bytes.count / storage.dtype.size
            let count = t.shape.reduce(1, *)
            if count > 0 {
                let last = t.offset + zip(t.shape, t.stride).reduce(0) { $0 + ($1.0 - 1) * $1.1 }
                guard t.offset >= 0, t.stride.allSatisfy({ $0 >= 0 }), last < available else {
                    throw fail("tensor '\(name)' \(t.shape) reaches element \(last) of storage \(storage.key), "
                        + "which holds only \(available) \(storage.dtype.name) elements (truncated storage)")
                }
            }
            let entry = Entry(tensor: t, bytes: bytes)
            converted[ObjectIdentifier(t)] = entry
            return entry
        }

        let stateDict = Self.stateDict(in: object)
        var entries: [String: Entry] = [:]
        for (key, value) in stateDict {
            guard case .string(let rawName) = key, case .tensor(let t) = value else { continue }
            let name = Self.strippingPrefixes(rawName)
            entries[name] = try tensorEntry(t, name: name)
        }
        self.path = path
        self.entries = entries
        self.root = object.plain
    }

    /// The first of `state_dict`, `model`, `network_weights` that is a dict holding tensors, else
    /// the top level.
    private static func stateDict(in object: PickleValue) -> [(PickleValue, PickleValue)] {
        guard case .dict(let top) = object else { return [] }
        for key in ["state_dict", "model", "network_weights"] {
            if let inner = top.items.first(where: { $0.0 == .string(key) })?.1, case .dict(let d) = inner,
               d.items.contains(where: { if case .tensor = $0.1 { return true } else { return false } }) {
                return d.items
            }
        }
        return top.items
    }

    static func strippingPrefixes(_ key: String) -> String {
        var name = Substring(key)
        while true {
            if name.hasPrefix("module.") { name = name.dropFirst("module.".count) }
            else if name.hasPrefix("_orig_mod.") { name = name.dropFirst("_orig_mod.".count) }
            else { return String(name) }
        }
    }

    /// Names of the floating-point tensors, sorted.
    public var floatingPointNames: [String] { entries.filter { $0.value.isFloatingPoint }.keys.sorted() }

    /// A floating-point tensor converted to Float32.
    public func floats(_ name: String) throws(PyTorchCheckpointError) -> [Float] {
        guard let e = entries[name] else { throw PyTorchCheckpointError(path: path, problem: "no tensor named '\(name)'") }
        guard let values = e.floats else {
            throw PyTorchCheckpointError(path: path, problem: "tensor '\(name)' is \(e.dtype), not floating point")
        }
        return values
    }

    /// An integer tensor widened to Int.
    public func integers(_ name: String) throws(PyTorchCheckpointError) -> [Int] {
        guard let e = entries[name] else { throw PyTorchCheckpointError(path: path, problem: "no tensor named '\(name)'") }
        guard let values = e.integers else {
            throw PyTorchCheckpointError(path: path, problem: "tensor '\(name)' is \(e.dtype), not an integer type")
        }
        return values
    }
}

extension PyTorchCheckpoint.Entry {
    /// Gathers the strided elements of `bytes` into a contiguous C-order array.
    fileprivate init(tensor t: PickledTensor, bytes: Data) {
        dtype = t.storage.dtype.name
        shape = t.shape
        let count = t.shape.reduce(1, *)
        var offsets = [Int](repeating: t.offset, count: count)
        var index = [Int](repeating: 0, count: t.shape.count)
        var flat = t.offset
        for i in 0..<count {
            offsets[i] = flat
            var axis = t.shape.count - 1
            while axis >= 0 {
                index[axis] += 1
                flat += t.stride[axis]
                if index[axis] < t.shape[axis] { break }
                flat -= t.stride[axis] * t.shape[axis]
                index[axis] = 0
                axis -= 1
            }
        }
        let kind = t.storage.dtype
        let (f, n): ([Float]?, [Int]?) = bytes.withUnsafeBytes { raw in
            let base = raw.baseAddress!
            func u16(_ e: Int) -> UInt16 { UInt16(littleEndian: base.loadUnaligned(fromByteOffset: 2 * e, as: UInt16.self)) }
            switch kind {
            case .float32:
                return (offsets.map { Float(bitPattern: UInt32(littleEndian: base.loadUnaligned(fromByteOffset: 4 * $0, as: UInt32.self))) }, nil)
            case .float64:
                return (offsets.map { Float(Double(bitPattern: UInt64(littleEndian: base.loadUnaligned(fromByteOffset: 8 * $0, as: UInt64.self)))) }, nil)
            case .float16:
                return (offsets.map { SafetensorsFile.halfToFloat(u16($0)) }, nil)
            case .bfloat16:
                return (offsets.map { Float(bitPattern: UInt32(u16($0)) << 16) }, nil)
            case .int64:
                return (nil, offsets.map { Int(Int64(littleEndian: base.loadUnaligned(fromByteOffset: 8 * $0, as: Int64.self))) })
            case .int32:
                return (nil, offsets.map { Int(Int32(littleEndian: base.loadUnaligned(fromByteOffset: 4 * $0, as: Int32.self))) })
            }
        }
        floats = f
        integers = n
    }
}

// MARK: - Restricted unpickler

struct PickleError: Error {
    let message: String
    init(_ message: String) { self.message = message }
}

/// The storage dtypes a checkpoint may hold.
enum StorageDType: Sendable {
    case float32, float16, bfloat16, float64, int64, int32

    /// From the storage class name `torch.FloatStorage` etc.
    init?(storageClass: String) {
        switch storageClass {
        case "torch.FloatStorage": self = .float32
        case "torch.HalfStorage": self = .float16
        case "torch.BFloat16Storage": self = .bfloat16
        case "torch.DoubleStorage": self = .float64
        case "torch.LongStorage": self = .int64
        case "torch.IntStorage": self = .int32
        default: return nil
        }
    }

    var size: Int {
        switch self {
        case .float32, .int32: return 4
        case .float16, .bfloat16: return 2
        case .float64, .int64: return 8
        }
    }

    var name: String {
        switch self {
        case .float32: return "F32"
        case .float16: return "F16"
        case .bfloat16: return "BF16"
        case .float64: return "F64"
        case .int64: return "I64"
        case .int32: return "I32"
        }
    }
}

final class PickledStorage {
    let key: String
    let dtype: StorageDType
    init(key: String, dtype: StorageDType) { (self.key, self.dtype) = (key, dtype) }
}

final class PickledTensor {
    let storage: PickledStorage
    let offset: Int
    let shape: [Int]
    let stride: [Int]
    init(storage: PickledStorage, offset: Int, shape: [Int], stride: [Int]) {
        (self.storage, self.offset, self.shape, self.stride) = (storage, offset, shape, stride)
    }
}

/// Mutable containers are reference types so that memoised references see later appends.
final class PickleList { var items: [PickleValue] = [] }
final class PickleDict { var items: [(PickleValue, PickleValue)] = [] }

/// The globals a weights-only load may name. Each is interpreted, never called.
enum AllowedGlobal: String {
    case orderedDict = "collections.OrderedDict"
    case rebuildTensor = "torch._utils._rebuild_tensor_v2"
    case rebuildParameter = "torch._utils._rebuild_parameter"
    case device = "torch.device"
    case encode = "_codecs.encode"
    case numpyScalar = "numpy.core.multiarray.scalar"
    case numpyScalar2 = "numpy._core.multiarray.scalar"
    case numpyDType = "numpy.dtype"

    static var names: String {
        ([orderedDict, rebuildTensor, rebuildParameter, device, encode, numpyScalar, numpyDType].map(\.rawValue)
            + ["torch.{Float,Half,BFloat16,Double,Long,Int}Storage"]).joined(separator: ", ")
    }
}

indirect enum PickleValue: Equatable {
    case none
    case bool(Bool)
    case int(Int)
    case float(Double)
    case string(String)
    case bytes([UInt8])
    case tuple([PickleValue])
    case list(PickleList)
    case dict(PickleDict)
    case global(AllowedGlobal)
    case storageClass(StorageDType)
    case storage(PickledStorage)
    case tensor(PickledTensor)
    /// A NumPy dtype by its type string ("f8", "i8", …) and byte order.
    case numpyDType(String, littleEndian: Bool)
    case opaque(String)

    static func == (a: PickleValue, b: PickleValue) -> Bool {
        switch (a, b) {
        case (.none, .none): return true
        case let (.string(x), .string(y)): return x == y
        case let (.int(x), .int(y)): return x == y
        case let (.bool(x), .bool(y)): return x == y
        default: return false
        }
    }

    var plain: CheckpointValue {
        switch self {
        case .none: return .none
        case .bool(let b): return .bool(b)
        case .int(let i): return .int(i)
        case .float(let d): return .float(d)
        case .string(let s): return .string(s)
        case .bytes(let b): return .bytes(b)
        case .tuple(let t): return .list(t.map(\.plain))
        case .list(let l): return .list(l.items.map(\.plain))
        case .dict(let d): return .dict(d.items.map { (key: $0.0.plain, value: $0.1.plain) })
        case .tensor(let t): return .tensor(shape: t.shape)
        case .global(let g): return .opaque(g.rawValue)
        case .storageClass, .storage: return .opaque("storage")
        case .numpyDType(let s, _): return .opaque("numpy.dtype(\(s))")
        case .opaque(let s): return .opaque(s)
        }
    }
}

/// A pickle reader (protocols 0–5) that builds values only from the allowed globals.
struct Unpickler {
    private let bytes: [UInt8]
    private var position = 0
    private var stack: [PickleValue] = []
    private var marks: [Int] = []
    private var memo: [Int: PickleValue] = [:]

    init(data: Data) { bytes = [UInt8](data) }

    mutating func load() throws(PickleError) -> PickleValue {
        while true {
            let op = try byte()
            switch op {
            case 0x80: _ = try byte()                                   // PROTO
            case 0x95: _ = try take(8)                                  // FRAME
            case 0x2E: return try pop()                                 // STOP
            case 0x28: marks.append(stack.count)                        // MARK
            case 0x4E: stack.append(.none)                              // NONE
            case 0x88: stack.append(.bool(true))                        // NEWTRUE
            case 0x89: stack.append(.bool(false))                       // NEWFALSE
            case 0x4B: stack.append(.int(Int(try byte())))              // BININT1
            case 0x4D: stack.append(.int(Int(try uint(2))))             // BININT2
            case 0x4A: stack.append(.int(Int(Int32(truncatingIfNeeded: try uint(4)))))  // BININT
            case 0x8A: stack.append(.int(try long(Int(try byte()))))    // LONG1
            case 0x8B: stack.append(.int(try long(Int(try uint(4)))))   // LONG4
            case 0x47: stack.append(.float(Double(bitPattern: try bigEndian(8))))  // BINFLOAT
            case 0x49: try pushTextNumber()                             // INT
            case 0x4C: try pushTextNumber()                             // LONG
            case 0x46:                                                  // FLOAT
                guard let d = Double(try line()) else { throw PickleError("malformed FLOAT") }
                stack.append(.float(d))
            case 0x58: stack.append(.string(try utf8(Int(try uint(4)))))  // BINUNICODE
            case 0x8C: stack.append(.string(try utf8(Int(try byte()))))   // SHORT_BINUNICODE
            case 0x8D: stack.append(.string(try utf8(try length(8))))  // BINUNICODE8
            case 0x56: stack.append(.string(try line()))                // UNICODE (raw-unicode-escape, ASCII here)
            case 0x55: stack.append(.string(try latin1(Int(try byte()))))  // SHORT_BINSTRING
            case 0x54: stack.append(.string(try latin1(Int(try uint(4)))))  // BINSTRING
            case 0x43: stack.append(.bytes(try take(Int(try byte()))))  // SHORT_BINBYTES
            case 0x42: stack.append(.bytes(try take(Int(try uint(4)))))  // BINBYTES
            case 0x8E: stack.append(.bytes(try take(try length(8))))  // BINBYTES8
            case 0x29: stack.append(.tuple([]))                         // EMPTY_TUPLE
            case 0x85: let a = try pop(); stack.append(.tuple([a]))     // TUPLE1
            case 0x86: let b = try pop(), a = try pop(); stack.append(.tuple([a, b]))  // TUPLE2
            case 0x87: let c = try pop(), b = try pop(), a = try pop(); stack.append(.tuple([a, b, c]))  // TUPLE3
            case 0x74: stack.append(.tuple(try popMark()))              // TUPLE
            case 0x5D: stack.append(.list(PickleList()))                // EMPTY_LIST
            case 0x6C: let l = PickleList(); l.items = try popMark(); stack.append(.list(l))  // LIST
            case 0x7D: stack.append(.dict(PickleDict()))                // EMPTY_DICT
            case 0x64: stack.append(.dict(try dict(from: try popMark())))  // DICT
            case 0x8F: stack.append(.list(PickleList()))                // EMPTY_SET (read as a list)
            case 0x91: let l = PickleList(); l.items = try popMark(); stack.append(.list(l))  // FROZENSET
            case 0x90:                                                  // ADDITEMS
                let items = try popMark()
                guard case .list(let l) = try top() else { throw PickleError("ADDITEMS without a set") }
                l.items += items
            case 0x61:                                                  // APPEND
                let v = try pop()
                guard case .list(let l) = try top() else { throw PickleError("APPEND without a list") }
                l.items.append(v)
            case 0x65:                                                  // APPENDS
                let items = try popMark()
                guard case .list(let l) = try top() else { throw PickleError("APPENDS without a list") }
                l.items += items
            case 0x73:                                                  // SETITEM
                let v = try pop(), k = try pop()
                guard case .dict(let d) = try top() else { throw PickleError("SETITEM without a dict") }
                d.items.append((k, v))
            case 0x75:                                                  // SETITEMS
                let items = try popMark()
                guard case .dict(let d) = try top() else { throw PickleError("SETITEMS without a dict") }
                guard items.count % 2 == 0 else { throw PickleError("SETITEMS with an odd item count") }
                for i in stride(from: 0, to: items.count, by: 2) { d.items.append((items[i], items[i + 1])) }
            case 0x71: memo[Int(try byte())] = try top()                // BINPUT
            case 0x72: memo[Int(try uint(4))] = try top()               // LONG_BINPUT
            case 0x94: memo[memo.count] = try top()                     // MEMOIZE
            case 0x70:                                                  // PUT
                guard let i = Int(try line()) else { throw PickleError("malformed PUT") }
                memo[i] = try top()
            case 0x68: stack.append(try memoized(Int(try byte())))      // BINGET
            case 0x6A: stack.append(try memoized(Int(try uint(4))))     // LONG_BINGET
            case 0x67:                                                  // GET
                guard let i = Int(try line()) else { throw PickleError("malformed GET") }
                stack.append(try memoized(i))
            case 0x63:                                                  // GLOBAL
                let module = try line(), name = try line()
                stack.append(try global(module, name))
            case 0x93:                                                  // STACK_GLOBAL
                guard case .string(let name) = try pop(), case .string(let module) = try pop() else {
                    throw PickleError("STACK_GLOBAL needs two strings")
                }
                stack.append(try global(module, name))
            case 0x51: stack.append(try persistent(try pop()))          // BINPERSID
            case 0x52:                                                  // REDUCE
                let args = try pop(), callable = try pop()
                guard case .tuple(let a) = args else { throw PickleError("REDUCE arguments are not a tuple") }
                stack.append(try reduce(callable, a))
            case 0x81:                                                  // NEWOBJ
                let args = try pop(), cls = try pop()
                guard case .tuple(let a) = args else { throw PickleError("NEWOBJ arguments are not a tuple") }
                stack.append(try reduce(cls, a))
            case 0x62:                                                  // BUILD
                let state = try pop()
                let target = try pop()
                stack.append(try build(target, state))
            case 0x30: _ = try pop()                                    // POP
            case 0x31: _ = try popMark()                                // POP_MARK
            case 0x32: stack.append(try top())                          // DUP
            default:
                throw PickleError(String(format: "pickle opcode 0x%02X is not allowed in a weights-only load", op))
            }
        }
    }

    // MARK: Interpreting the allowed globals

    private func global(_ module: String, _ name: String) throws(PickleError) -> PickleValue {
        let full = "\(module).\(name)"
        if let allowed = AllowedGlobal(rawValue: full) { return .global(allowed) }
        if let dtype = StorageDType(storageClass: full) { return .storageClass(dtype) }
        throw PickleError("refusing the global '\(full)': a weights-only load allows only \(AllowedGlobal.names)")
    }

    /// `('storage', torch.FloatStorage, key, location, numel)`.
    private func persistent(_ id: PickleValue) throws(PickleError) -> PickleValue {
        guard case .tuple(let t) = id, t.count >= 3, t[0] == .string("storage") else {
            throw PickleError("persistent id is not a storage reference")
        }
        guard case .storageClass(let dtype) = t[1] else {
            throw PickleError("storage type is not one of Float, Half, BFloat16, Double, Long, Int")
        }
        guard case .string(let key) = t[2] else { throw PickleError("storage key is not a string") }
        return .storage(PickledStorage(key: key, dtype: dtype))
    }

    private func reduce(_ callable: PickleValue, _ args: [PickleValue]) throws(PickleError) -> PickleValue {
        guard case .global(let g) = callable else { throw PickleError("REDUCE of a value that is not an allowed global") }
        switch g {
        case .orderedDict:
            return .dict(PickleDict())
        case .rebuildTensor:
            // (storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])
            guard args.count >= 4, case .storage(let s) = args[0], case .int(let offset) = args[1],
                  let shape = Self.ints(args[2]), let stride = Self.ints(args[3]), shape.count == stride.count else {
                throw PickleError("malformed _rebuild_tensor_v2 arguments")
            }
            guard shape.allSatisfy({ $0 >= 0 }) else { throw PickleError("negative tensor size \(shape)") }
            return .tensor(PickledTensor(storage: s, offset: offset, shape: shape, stride: stride))
        case .rebuildParameter:
            guard let first = args.first, case .tensor = first else { throw PickleError("malformed _rebuild_parameter arguments") }
            return first
        case .device:
            let text = args.map { v -> String in
                if case .string(let s) = v { return s }
                if case .int(let i) = v { return String(i) }
                return "?"
            }.joined(separator: ":")
            return .opaque("device(\(text))")
        case .encode:
            guard case .string(let s)? = args.first else { throw PickleError("malformed _codecs.encode arguments") }
            return .bytes(s.unicodeScalars.map { UInt8(truncatingIfNeeded: $0.value) })
        case .numpyDType:
            guard case .string(let s)? = args.first else { throw PickleError("malformed numpy.dtype arguments") }
            return .numpyDType(s, littleEndian: true)
        case .numpyScalar, .numpyScalar2:
            guard args.count == 2, case .numpyDType(let type, let little) = args[0], case .bytes(let b) = args[1] else {
                throw PickleError("malformed NumPy scalar")
            }
            return try Self.numpyScalar(type: type, littleEndian: little, bytes: b)
        }
    }

    /// BUILD sets an object's state: a NumPy dtype's byte order is kept, attributes of dicts and
    /// tensors are dropped.
    private func build(_ target: PickleValue, _ state: PickleValue) throws(PickleError) -> PickleValue {
        switch target {
        case .numpyDType(let type, _):
            guard case .tuple(let s) = state, s.count > 1, case .string(let order) = s[1] else { return target }
            return .numpyDType(type, littleEndian: order != ">")
        case .tensor, .dict:
            // A tensor's Python attributes or a state_dict's `_metadata`: not needed.
            return target
        default:
            throw PickleError("BUILD of a value that is not an allowed object")
        }
    }

    private static func numpyScalar(type: String, littleEndian: Bool, bytes b: [UInt8]) throws(PickleError) -> PickleValue {
        let ordered = littleEndian ? b : b.reversed()
        func word(_ n: Int) -> UInt64 {
            (0..<n).reduce(UInt64(0)) { $0 | UInt64(ordered[$1]) << (8 * UInt64($1)) }
        }
        switch (type, b.count) {
        case ("f8", 8): return .float(Double(bitPattern: word(8)))
        case ("f4", 4): return .float(Double(Float(bitPattern: UInt32(word(4)))))
        case ("i8", 8): return .int(Int(Int64(bitPattern: word(8))))
        case ("i4", 4): return .int(Int(Int32(bitPattern: UInt32(word(4)))))
        case ("u8", 8): return .int(Int(truncatingIfNeeded: word(8)))
        case ("b1", 1): return .bool(b[0] != 0)
        default: throw PickleError("NumPy scalar of dtype '\(type)' is not supported")
        }
    }

    private static func ints(_ v: PickleValue) -> [Int]? {
        guard case .tuple(let t) = v else { return nil }
        let out = t.compactMap { x -> Int? in if case .int(let i) = x { return i } else { return nil } }
        return out.count == t.count ? out : nil
    }

    // MARK: Reading

    private func dict(from items: [PickleValue]) throws(PickleError) -> PickleDict {
        guard items.count % 2 == 0 else { throw PickleError("DICT with an odd item count") }
        let d = PickleDict()
        for i in stride(from: 0, to: items.count, by: 2) { d.items.append((items[i], items[i + 1])) }
        return d
    }

    private mutating func pushTextNumber() throws(PickleError) {
        var text = try line()
        if text.hasSuffix("L") { text.removeLast() }
        switch text {
        case "00": stack.append(.bool(false))
        case "01": stack.append(.bool(true))
        default:
            guard let i = Int(text) else { throw PickleError("malformed or too large integer '\(text)'") }
            stack.append(.int(i))
        }
    }

    private mutating func byte() throws(PickleError) -> UInt8 {
        guard position < bytes.count else { throw PickleError("truncated pickle (no STOP)") }
        defer { position += 1 }
        return bytes[position]
    }

    private mutating func take(_ n: Int) throws(PickleError) -> [UInt8] {
        guard n >= 0, n <= bytes.count - position else { throw PickleError("truncated pickle") }
        defer { position += n }
        return Array(bytes[position..<(position + n)])
    }

    private mutating func uint(_ n: Int) throws(PickleError) -> UInt64 {
        try take(n).enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) }
    }

    /// An 8-byte length field, refused when it does not fit in Int (it cannot fit in the file either).
    private mutating func length(_ n: Int) throws(PickleError) -> Int {
        guard let v = Int(exactly: try uint(n)) else { throw PickleError("length field exceeds the pickle") }
        return v
    }

    private mutating func bigEndian(_ n: Int) throws(PickleError) -> UInt64 {
        try take(n).reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
    }

    /// A little-endian two's-complement integer of `n` bytes (LONG1 / LONG4).
    private mutating func long(_ n: Int) throws(PickleError) -> Int {
        guard n <= 8 else { throw PickleError("integer of \(n) bytes is too large") }
        if n == 0 { return 0 }
        let b = try take(n)
        var value = b.enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) }
        if n < 8, b[n - 1] & 0x80 != 0 { value |= ~UInt64(0) << (8 * UInt64(n)) }
        return Int(Int64(bitPattern: value))
    }

    private mutating func utf8(_ n: Int) throws(PickleError) -> String {
        let b = try take(n)
        guard let s = String(bytes: b, encoding: .utf8) else { throw PickleError("string is not UTF-8") }
        return s
    }

    private mutating func latin1(_ n: Int) throws(PickleError) -> String {
        String(decoding: try take(n).map { UInt16($0) }, as: UTF16.self)
    }

    private mutating func line() throws(PickleError) -> String {
        guard let end = bytes[position...].firstIndex(of: 0x0A) else { throw PickleError("truncated pickle") }
        defer { position = end + 1 }
        return String(decoding: bytes[position..<end], as: UTF8.self)
    }

    private mutating func pop() throws(PickleError) -> PickleValue {
        if let mark = marks.last, stack.count <= mark { throw PickleError("stack underflow at a MARK") }
        guard let v = stack.popLast() else { throw PickleError("stack underflow") }
        return v
    }

    private func top() throws(PickleError) -> PickleValue {
        guard let v = stack.last else { throw PickleError("stack underflow") }
        return v
    }

    private mutating func popMark() throws(PickleError) -> [PickleValue] {
        guard let mark = marks.popLast() else { throw PickleError("missing MARK") }
        let items = Array(stack[mark...])
        stack.removeSubrange(mark...)
        return items
    }

    private func memoized(_ i: Int) throws(PickleError) -> PickleValue {
        guard let v = memo[i] else { throw PickleError("memo entry \(i) read before it was written") }
        return v
    }
}
