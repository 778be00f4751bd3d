import Explorer
import Foundation

/// The interactive run loop: input → session → frame, with background results polled between
/// frames so input is handled within one input timeout (20 ms) even while computing.
public enum TerminalApp {
    public static func run(session: ExplorerSession, environment: [String: String]) throws {
        let screen = try CursesScreen(environment: environment)
        defer { screen.close() }
        session.explorer.capabilities = screen.capabilities
        let size = screen.size
        _ = session.explorer.handle(.resize(width: size.width, height: size.height))
        session.start()
        if let notice = screen.notice { session.explorer.state.message = StatusMessage(notice, isError: true) }
        var presenter = Presenter(backend: screen)
        var dirty = true
        while true {
            if dirty {
                presenter.present(session.explorer.render())
                if screen.takePairReset() {
                    presenter.invalidate()
                    presenter.present(session.explorer.render())
                }
                dirty = false
            }
            var event = screen.read()
            // Drain everything queued (key repeat, a burst of resizes) before the next frame.
            while let e = event {
                switch session.handle(e) {
                case .quit:
                    session.controller?.cancel()
                    return
                case .resize:
                    presenter.invalidate()
                    dirty = true
                case .none:
                    break
                default:
                    dirty = true
                }
                event = screen.readNow()
            }
            if session.poll() { dirty = true }
        }
    }
}
