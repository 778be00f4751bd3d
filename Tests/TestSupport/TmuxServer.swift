import Foundation
import XCTest

/// A tmux server of one test's own (`tmux -L NAME`), for end-to-end tests of the explorer.
/// Killing a server's last session shuts the server down, and a session started meanwhile on the
/// same server can connect to it as it dies and vanish (a blank pane, whatever its name). So each
/// test gets its own server, and `restart` opens the next session before killing the old one.
public final class TmuxServer {
    public let executable: String
    public let name: String
    /// The session the test drives; `restart` moves it to a new one.
    public private(set) var session: String

    public init(executable: String, name: String) {
        (self.executable, self.name, self.session) = (executable, name, name)
    }

    /// Runs tmux through posix_spawn and reaps it with waitpid. `new-session` forks a server that
    /// inherits the client's descriptors, and Foundation's `Process` can then miss the client's
    /// exit and wait forever; waitpid on the client's pid cannot. Output, when asked for, goes
    /// through a temporary file for the same reason.
    @discardableResult
    public func run(_ args: [String], output: Bool = false) throws -> (status: Int32, output: String) {
        let outPath = FileManager.default.temporaryDirectory.appendingPathComponent("\(name)-\(UUID().uuidString).out").path
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, output ? outPath : "/dev/null", O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        let argv = ([executable, "-L", name] + args).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, argv[0]!, &actions, nil, argv, environ)
        guard spawned == 0 else {
            throw NSError(domain: "tmux", code: Int(spawned),
                          userInfo: [NSLocalizedDescriptionKey: "cannot start tmux: \(String(cString: strerror(spawned)))"])
        }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
        let exit = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        guard output else { return (exit, "") }
        defer { try? FileManager.default.removeItem(atPath: outPath) }
        return (exit, (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? "")
    }

    /// Opens the session running `command` in a detached width × height pane; a failure throws.
    public func start(_ command: String, width: Int, height: Int) throws {
        let started = try run(["new-session", "-d", "-s", session, "-x", "\(width)", "-y", "\(height)", command])
        guard started.status == 0 else {
            throw NSError(domain: "tmux", code: Int(started.status),
                          userInfo: [NSLocalizedDescriptionKey: "tmux new-session \(session) exited \(started.status)"])
        }
    }

    /// Runs `command` in a new session, opened before the current one is killed (see the type).
    public func restart(_ command: String, width: Int, height: Int) throws {
        let old = session
        session = "\(old)-next"
        try start(command, width: width, height: height)
        try run(["kill-session", "-t", old])
    }

    public func send(_ keys: String...) throws { try run(["send-keys", "-t", session] + keys) }

    public func capture() throws -> String { try run(["capture-pane", "-p", "-t", session], output: true).output }

    /// Polls the pane until `predicate` holds (up to `timeout` seconds); returns the last capture.
    @discardableResult
    public func waitFor(_ timeout: Double, _ what: String, file: StaticString = #filePath, line: UInt = #line,
                        _ predicate: (String) -> Bool) throws -> String {
        let end = Date().addingTimeInterval(timeout)
        var screen = ""
        while Date() < end {
            screen = try capture()
            if predicate(screen) { return screen }
            usleep(100_000)
        }
        XCTFail("timed out waiting for \(what); screen:\n\(screen)", file: file, line: line)
        return screen
    }

    /// Ends the server with every session on it, and removes its socket, which tmux leaves behind.
    public func shutDown() {
        _ = try? run(["kill-server"])
        let directory = ProcessInfo.processInfo.environment["TMUX_TMPDIR"] ?? "/tmp"
        try? FileManager.default.removeItem(atPath: "\(directory)/tmux-\(getuid())/\(name)")
    }
}
