import Foundation

/// A write that failed; the message names the destination and the system's reason.
public struct FileWriteError: Error, CustomStringConvertible, Equatable, Sendable {
    public let path: String
    public let problem: String

    public init(path: String, problem: String) {
        self.path = path
        self.problem = problem
    }

    /// The error for `errno` after a failed call, with the two a batch user can act on spelled out.
    public init(path: String, errno code: Int32, during action: String) {
        self.init(path: path, problem: "cannot \(action): \(Self.reason(code))")
    }

    /// The system's reason for `errno`, with the ones a batch user can act on spelled out.
    public static func reason(_ code: Int32) -> String {
        switch code {
        case EFBIG: return "the file exceeds the file-size limit (ulimit -f) or the file system's maximum"
        case ENOSPC: return "no space left on the device"
        case EDQUOT: return "the disk quota is exhausted"
        default: return String(cString: strerror(code))
        }
    }

    public var description: String { "\(path): \(problem)" }
}

/// The one way files are written: into a temporary file in the destination's directory, flushed
/// with fsync, then renamed over the destination, so a reader sees the old file or the new one and
/// never a partial one. The temporary is removed on every failure path and, through
/// `installSignalCleanup`, when the process is interrupted.
public enum AtomicFile {
    /// Writes `data` to `path` atomically.
    public static func write(_ data: Data, to path: String) throws(FileWriteError) {
        try replace(path) { (tmp: String) throws(FileWriteError) in
            let fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o666)
            guard fd >= 0 else { throw FileWriteError(path: path, errno: errno, during: "create a temporary file") }
            defer { close(fd) }
            try writeAll(fd, data, path: path)
        }
    }

    /// Calls `body` with a temporary path (ending in `suffix`, so writers that pick compression by
    /// extension behave as for `path`) that it must create, then flushes and renames it to `path`.
    public static func replace<E: Error>(_ path: String, suffix: String = "",
                                         _ body: (String) throws(E) -> Void) throws(FileWriteError) {
        let url = URL(fileURLWithPath: path)
        let directory = url.deletingLastPathComponent().path
        var base = url.lastPathComponent
        if !suffix.isEmpty, base.hasSuffix(suffix) { base.removeLast(suffix.count) }
        let tmp = "\(directory)/.\(base).\(getpid())-\(UInt32.random(in: 0...UInt32.max)).tmp\(suffix)"
        TemporaryFiles.shared.register(tmp)
        defer {
            unlink(tmp)
            TemporaryFiles.shared.unregister(tmp)
        }
        do {
            try body(tmp)
        } catch let error as FileWriteError {
            throw error
        } catch {
            throw FileWriteError(path: path, problem: "\(error)")
        }
        let fd = open(tmp, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw FileWriteError(path: path, errno: errno, during: "reopen the temporary file") }
        let synced = fsync(fd) == 0 ? 0 : errno
        close(fd)
        guard synced == 0 else { throw FileWriteError(path: path, errno: synced, during: "flush the file to disk") }
        guard rename(tmp, path) == 0 else { throw FileWriteError(path: path, errno: errno, during: "rename into place") }
    }

    /// Appends `data` to `path` (created when missing) and fsyncs before returning, so a row
    /// written this way survives a kill of the process right after.
    public static func appendDurably(_ data: Data, to path: String) throws(FileWriteError) {
        let fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o666)
        guard fd >= 0 else { throw FileWriteError(path: path, errno: errno, during: "open for appending") }
        defer { close(fd) }
        try writeAll(fd, data, path: path)
    }

    private static func writeAll(_ fd: Int32, _ data: Data, path: String) throws(FileWriteError) {
        let failure: Int32 = data.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let n = Foundation.write(fd, raw.baseAddress! + offset, raw.count - offset)
                if n < 0 {
                    if errno == EINTR { continue }
                    return errno
                }
                offset += n
            }
            return 0
        }
        guard failure == 0 else { throw FileWriteError(path: path, errno: failure, during: "write") }
        guard fsync(fd) == 0 else { throw FileWriteError(path: path, errno: errno, during: "flush the file to disk") }
    }

    /// Ignores SIGXFSZ (so exceeding `ulimit -f` is an EFBIG error that the writers report and
    /// clean up after, instead of killing the process) and, on SIGINT or SIGTERM, removes every
    /// temporary file still being written and exits with 128 + the signal number.
    ///
    /// The notice goes to a duplicate of stderr taken now: the NIfTI writer mutes fd 2 while
    /// libnifti writes, which is exactly when an interrupt finds a temporary file to remove.
    public static func installSignalCleanup() {
        signal(SIGXFSZ, SIG_IGN)
        let notice = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 3)
        for sig in [SIGINT, SIGTERM] {
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            source.setEventHandler {
                TemporaryFiles.shared.removeAll()
                let name = sig == SIGINT ? "SIGINT" : "SIGTERM"
                let text = Array("\ninterrupted by \(name); temporary files removed\n".utf8)
                _ = text.withUnsafeBytes { Foundation.write(notice >= 0 ? notice : STDERR_FILENO, $0.baseAddress, $0.count) }
                _exit(128 + sig)
            }
            source.resume()
            SignalSources.shared.keep(source)
        }
    }
}

/// Temporary files being written, removed if the process is interrupted.
final class TemporaryFiles: @unchecked Sendable {
    static let shared = TemporaryFiles()
    private let lock = NSLock()
    private var paths: Set<String> = []

    func register(_ path: String) { lock.withLock { _ = paths.insert(path) } }
    func unregister(_ path: String) { lock.withLock { _ = paths.remove(path) } }

    func removeAll() {
        lock.withLock {
            for p in paths { unlink(p) }
            paths.removeAll()
        }
    }
}

/// Keeps the signal sources alive for the life of the process.
private final class SignalSources: @unchecked Sendable {
    static let shared = SignalSources()
    private let lock = NSLock()
    private var sources: [any DispatchSourceSignal] = []
    func keep(_ source: any DispatchSourceSignal) { lock.withLock { sources.append(source) } }
}
