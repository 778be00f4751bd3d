import Foundation

public enum ShardError: Error, CustomStringConvertible, Equatable {
    case malformed(String, source: String)

    public var description: String {
        switch self {
        case let .malformed(text, source):
            return "\(source): \"\(text)\" is not a shard; expected I/N with 0 ≤ I < N (e.g. 0/4)"
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
        guard parts.count == 2, let i = Int(parts[0]), let n = Int(parts[1]), n >= 1, i >= 0, i < n else {
            throw ShardError.malformed(argument, source: source)
        }
        self.init(index: i, count: n)
    }

    /// The shard of a SLURM array task: SLURM_ARRAY_TASK_ID − SLURM_ARRAY_TASK_MIN (0 when unset)
    /// of SLURM_ARRAY_TASK_COUNT; nil outside an array job.
    public static func fromEnvironment(_ env: [String: String]) throws -> Shard? {
        guard let id = env["SLURM_ARRAY_TASK_ID"], let count = env["SLURM_ARRAY_TASK_COUNT"] else { return nil }
        let minimum = env["SLURM_ARRAY_TASK_MIN"].flatMap { Int($0) } ?? 0
        guard let i = Int(id), let n = Int(count) else {
            throw ShardError.malformed("\(id)/\(count)", source: "SLURM_ARRAY_TASK_ID/SLURM_ARRAY_TASK_COUNT")
        }
        return try Shard(argument: "\(i - minimum)/\(n)", source: "SLURM_ARRAY_TASK_ID/SLURM_ARRAY_TASK_COUNT")
    }

    /// This shard's contiguous block of `items`: [index·n/N, (index+1)·n/N).
    public func select<T>(_ items: [T]) -> [T] {
        let n = items.count
        return Array(items[(index * n / count)..<((index + 1) * n / count)])
    }
}
