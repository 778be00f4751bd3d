import Foundation

public enum ShardError: Error, CustomStringConvertible, Equatable {
    case malformed(String, source: String)

    public var description: String {
        switch self {
        case let .malformed(text, source):
            return "\(source): \"\(text)\" is not a shard; expected I/N with 0 ≤ I < N ≤ 1000000 (e.g. 0/4)"
        }
    }
}

/// One of N slices of a dataset, so a batch of scans can run as N independent jobs whose CSVs
/// `merge` joins. Slices are contiguous blocks of the sorted scan list.
public struct Shard: Sendable, Equatable {
    public var index: Int
    public var count: Int

    public init(index: Int, count: Int) {
        precondition(count >= 1 && index >= 0 && index < count, "shard out of range")
        self.index = index
        self.count = count
    }

    /// Parses `I/N`.
    public init(argument: String, source: String = "--shard") throws {
        let parts = argument.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let i = Int(parts[0]), let n = Int(parts[1]), (1...Self.maxCount).contains(n),
              i >= 0, i < n else {
            throw ShardError.malformed(argument, source: source)
        }
        self.init(index: i, count: n)
    }

    /// Most shards a batch may be split into.
    public static let maxCount = 1_000_000

    /// The shard of a SLURM array task: (SLURM_ARRAY_TASK_ID − SLURM_ARRAY_TASK_MIN) /
    /// SLURM_ARRAY_TASK_STEP (minimum 0 and step 1 when unset) of SLURM_ARRAY_TASK_COUNT; nil
    /// outside an array job. `--array=0-9:3` gives ids 0, 3, 6, 9 and shards 0…3 of 4.
    public static func fromEnvironment(_ env: [String: String]) throws -> Shard? {
        guard let id = env["SLURM_ARRAY_TASK_ID"], let count = env["SLURM_ARRAY_TASK_COUNT"] else { return nil }
        let source = "SLURM_ARRAY_TASK_ID/SLURM_ARRAY_TASK_COUNT"
        func integer(_ name: String, _ text: String?, default d: Int) throws -> Int {
            guard let text else { return d }
            guard let v = Int(text) else { throw ShardError.malformed("\(name)=\(text)", source: "environment") }
            return v
        }
        let i = try integer("SLURM_ARRAY_TASK_ID", id, default: 0)
        let n = try integer("SLURM_ARRAY_TASK_COUNT", count, default: 1)
        let minimum = try integer("SLURM_ARRAY_TASK_MIN", env["SLURM_ARRAY_TASK_MIN"], default: 0)
        let step = try integer("SLURM_ARRAY_TASK_STEP", env["SLURM_ARRAY_TASK_STEP"], default: 1)
        let (offset, overflow) = i.subtractingReportingOverflow(minimum)
        guard !overflow, offset >= 0, step >= 1, offset % step == 0 else {
            throw ShardError.malformed("id \(i), min \(minimum), step \(step)", source: "SLURM_ARRAY_TASK_ID/MIN/STEP")
        }
        return try Shard(argument: "\(offset / step)/\(n)", source: source)
    }

    /// This shard's contiguous block of `items`: [index·n/N, (index+1)·n/N).
    public func select<T>(_ items: [T]) -> [T] {
        let n = items.count
        return Array(items[(index * n / count)..<((index + 1) * n / count)])
    }
}
