import Explorer

/// Receives only the cells that changed since the previous frame (ratatui's `Backend::draw`).
public protocol CellBackend {
    /// Draws `cells` (positions and contents), then makes them visible.
    mutating func draw(_ cells: [(x: Int, y: Int, cell: Cell)])
    /// Forgets what is on screen (after a resize), so the next frame is drawn in full.
    mutating func clear()
}

/// Diffs each frame against the previous one and sends the difference to a backend.
public struct Presenter<Backend: CellBackend> {
    public var backend: Backend
    private var previous: CellGrid?

    public init(backend: Backend) { self.backend = backend }

    /// Sends the cells of `grid` that differ from the last frame; returns how many were sent.
    @discardableResult
    public mutating func present(_ grid: CellGrid) -> Int {
        if let p = previous, p.width != grid.width || p.height != grid.height { backend.clear() }
        let changes = grid.changedCells(since: previous).map { (x: $0.x, y: $0.y, cell: grid[$0.x, $0.y]) }
        if !changes.isEmpty { backend.draw(changes) }
        previous = grid
        return changes.count
    }

    /// Forces the next frame to be drawn in full.
    public mutating func invalidate() {
        previous = nil
        backend.clear()
    }
}

/// A backend that records what it was asked to draw, for tests.
public struct RecordingBackend: CellBackend {
    public private(set) var frames: [[(x: Int, y: Int, cell: Cell)]] = []
    public private(set) var clears = 0

    public init() {}

    public mutating func draw(_ cells: [(x: Int, y: Int, cell: Cell)]) { frames.append(cells) }
    public mutating func clear() { clears += 1 }
}
