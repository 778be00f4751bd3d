import Foundation

/// A value computed on a background queue from the moment it is created; `value()` waits for it.
/// Lets independent start-up steps (hashing files, reading cache entries) overlap.
public final class BackgroundResult<Value: Sendable>: @unchecked Sendable {
    private let done = DispatchSemaphore(value: 0)
    /// Written once on the background queue before `done` is signalled, read only after waiting.
    private var result: Result<Value, any Error>?

    public init(_ work: @escaping @Sendable () throws -> Value) {
        DispatchQueue.global(qos: .userInitiated).async {
            self.result = Result { try work() }
            self.done.signal()
        }
    }

    /// The value (or the error it threw); every call after the first returns at once.
    public func value() throws -> Value {
        done.wait()
        done.signal()
        return try result!.get()
    }
}
