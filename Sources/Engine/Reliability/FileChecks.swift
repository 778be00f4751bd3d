import Foundation

/// A path that cannot be used as an input or output; the message names the path.
public struct FileCheckError: Error, CustomStringConvertible, Equatable, Sendable {
    public let path: String
    public let problem: String

    public init(path: String, problem: String) {
        self.path = path
        self.problem = problem
    }

    public var description: String { "\(path): \(problem)" }
}

/// Checks made with `stat` before a file is opened, so a FIFO, socket or device never blocks a
/// reader (gzopen on a FIFO waits for a writer forever) and a missing output directory is
/// reported before any computation.
public enum FileChecks {
    /// What `stat` says a path is, following symbolic links.
    enum Kind { case missing, regular, directory, other(String) }

    static func kind(_ path: String) -> Kind {
        var st = stat()
        guard stat(path, &st) == 0 else { return .missing }
        switch st.st_mode & S_IFMT {
        case S_IFREG: return .regular
        case S_IFDIR: return .directory
        case S_IFIFO: return .other("a FIFO (named pipe)")
        case S_IFSOCK: return .other("a socket")
        case S_IFCHR, S_IFBLK: return .other("a device")
        default: return .other("not a regular file")
        }
    }

    /// Throws unless `path` is a regular file (symbolic links are followed).
    public static func requireRegularFile(_ path: String) throws(FileCheckError) {
        switch kind(path) {
        case .regular: return
        case .missing: throw FileCheckError(path: path, problem: "no such file")
        case .directory: throw FileCheckError(path: path, problem: "is a directory, expected a file")
        case .other(let what): throw FileCheckError(path: path, problem: "is \(what), expected a regular file")
        }
    }

    /// Throws unless `path` is a directory.
    public static func requireDirectory(_ path: String) throws(FileCheckError) {
        switch kind(path) {
        case .directory: return
        case .missing: throw FileCheckError(path: path, problem: "no such directory")
        case .regular: throw FileCheckError(path: path, problem: "is a file, expected a directory")
        case .other(let what): throw FileCheckError(path: path, problem: "is \(what), expected a directory")
        }
    }

    /// Throws unless `path` can be created or replaced: its directory exists and is writable,
    /// the path is not a directory, and it is not one of `inputs` (the same file by device and
    /// inode, so `./a.csv` and `a.csv` or a hard link are caught).
    public static func requireWritableOutput(_ path: String, inputs: [String] = []) throws(FileCheckError) {
        let directory = (path as NSString).deletingLastPathComponent
        let dir = directory.isEmpty ? "." : directory
        switch kind(dir) {
        case .directory: break
        case .missing: throw FileCheckError(path: path, problem: "the output directory \(dir) does not exist")
        default: throw FileCheckError(path: path, problem: "\(dir) is not a directory")
        }
        guard access(dir, W_OK | X_OK) == 0 else {
            throw FileCheckError(path: path, problem: "the output directory \(dir) is not writable")
        }
        switch kind(path) {
        case .missing, .regular: break
        case .directory: throw FileCheckError(path: path, problem: "is a directory, expected an output file name")
        case .other(let what): throw FileCheckError(path: path, problem: "is \(what), expected a regular output file")
        }
        var out = stat()
        guard stat(path, &out) == 0 else { return }
        for input in inputs {
            var st = stat()
            if stat(input, &st) == 0, st.st_dev == out.st_dev, st.st_ino == out.st_ino {
                throw FileCheckError(path: path, problem: "the output would overwrite the input \(input)")
            }
        }
    }
}
