import Engine

/// Draws one plane (CT, label overlay, heatmap, crosshair) into a rectangle of cells.
struct PlaneRenderer {
    let explorer: Explorer
    let theme: Theme
    let caps: RenderCapabilities

    /// Per-pixel crosshair marks, so monochrome and ASCII output can draw line glyphs.
    private enum Mark: UInt8 { case none, vertical, horizontal, centre }

    /// Shading ramps from dark to bright.
    static let unicodeRamp: [Unicode.Scalar] = [" ", "░", "▒", "▓", "█"]
    static let asciiRamp: [Unicode.Scalar] = [" ", ".", ":", "-", "=", "+", "*", "#", "%", "@"]

    func draw(_ plane: Plane, into grid: inout CellGrid, rect image: Rect) {
        guard image.width > 0, image.height > 0 else { return }
        let vp = explorer.viewport(plane, image)
        let (pw, ph) = (vp.pixelWidth, vp.pixelHeight)
        let scene = explorer.scene
        let state = explorer.state
        let ct = scene.ct
        let dims = ct.grid.dims
        let strides = [1, dims[0], dims[0] * dims[1]]
        let base = state.crosshair[vp.axes.normal] * strides[vp.axes.normal]
        let (sh, sv) = (strides[vp.axes.horizontal], strides[vp.axes.vertical])

        // Voxel index of each pixel (−1 outside the slice).
        var index = [Int](repeating: -1, count: pw * ph)
        for py in 0..<ph where vp.rows[py] >= 0 {
            let rowBase = base + vp.rows[py] * sv
            for px in 0..<pw where vp.columns[px] >= 0 { index[py * pw + px] = rowBase + vp.columns[px] * sh }
        }

        let empty = theme[.paneEmpty]
        var pixels = [RGB](repeating: empty, count: pw * ph)
        let window = state.window
        ct.voxels.withUnsafeBufferPointer { hu in
            for p in 0..<(pw * ph) where index[p] >= 0 {
                let g = UInt8(window.grey(hu[index[p]]) * 255 + 0.5)
                pixels[p] = RGB(g, g, g)
            }
        }

        if let labels = scene.labels, labels.grid.dims == dims {
            drawLabels(labels, index: index, pixels: &pixels, pw: pw, ph: ph)
        }
        if state.heatmapVisible, let attribution = explorer.attribution, attribution.map.grid.dims == dims {
            drawHeatmap(attribution, index: index, pixels: &pixels)
        }

        // Crosshair: one pixel column and row, with a small gap so the probed voxel stays visible.
        var marks = [Mark](repeating: .none, count: pw * ph)
        let (cx, cy) = vp.crosshairPixel
        let cross = theme[.crosshair]
        let gap = 2
        if cx >= 0, cx < pw {
            for py in 0..<ph where abs(py - cy) > gap { pixels[py * pw + cx] = cross; marks[py * pw + cx] = .vertical }
        }
        if cy >= 0, cy < ph {
            for px in 0..<pw where abs(px - cx) > gap { pixels[cy * pw + px] = cross; marks[cy * pw + px] = .horizontal }
        }
        if cx >= 0, cx < pw, cy >= 0, cy < ph { marks[cy * pw + cx] = .centre }

        let bg = theme[.background]
        for y in 0..<image.height {
            for x in 0..<image.width {
                let top = (2 * y) * pw + x, bottom = (2 * y + 1) * pw + x
                grid.set(image.x + x, image.y + y,
                         cell(pixels[top], pixels[bottom], marks[top], marks[bottom], background: bg))
            }
        }

        // Orientation letters at the edge midpoints.
        let l = plane.letters
        let letterFg = theme[.orientation]
        let midY = image.y + image.height / 2, midX = image.x + image.width / 2
        for (ch, x, y) in [(l.left, image.x, midY), (l.right, image.x + image.width - 1, midY),
                           (l.top, midX, image.y), (l.bottom, midX, image.y + image.height - 1)] {
            grid.set(x, y, Cell(ch.unicodeScalars.first!, fg: letterFg, bg: bg, attrs: .bold))
        }
    }

    /// Combines a cell's two pixels into a glyph for the terminal's capabilities.
    private func cell(_ top: RGB, _ bottom: RGB, _ mt: Mark, _ mb: Mark, background: RGB) -> Cell {
        let mark = mt == .centre || mb == .centre ? Mark.centre : mt != .none ? mt : mb
        if caps.unicode && caps.depth.hasColor {
            return Cell("▀", fg: top, bg: bottom)
        }
        if mark != .none {
            let glyph: Unicode.Scalar = mark == .vertical ? "|" : mark == .horizontal ? "-" : "+"
            return Cell(glyph, fg: theme[.crosshair], bg: caps.depth.hasColor ? top.mixed(with: bottom, 0.5) : background,
                        attrs: caps.depth.hasColor ? [] : .bold)
        }
        let avg = top.mixed(with: bottom, 0.5)
        if caps.depth.hasColor { return Cell(" ", fg: avg, bg: avg) }
        let ramp = caps.unicode ? Self.unicodeRamp : Self.asciiRamp
        let level = min(Int(avg.luminance * Double(ramp.count)), ramp.count - 1)
        return Cell(ramp[level], fg: .white, bg: .black)
    }

    private func drawLabels(_ labels: LabelMap, index: [Int], pixels: inout [RGB], pw: Int, ph: Int) {
        let state = explorer.state
        let highlighted = state.highlighted
        guard state.labelMode != .off || highlighted != nil else { return }
        var lab = [Int32](repeating: 0, count: pw * ph)
        labels.labels.withUnsafeBufferPointer { buf in
            for p in 0..<(pw * ph) where index[p] >= 0 { lab[p] = buf[index[p]] }
        }
        var colors: [Int32: RGB] = [:]
        func color(_ l: Int32) -> RGB {
            if let c = colors[l] { return c }
            let c = explorer.scene.labelColors[l] ?? theme.labelColor(l)
            colors[l] = c
            return c
        }
        let highlight = theme[.highlight]
        for py in 0..<ph {
            for px in 0..<pw {
                let p = py * pw + px
                let l = lab[p]
                guard l != 0 else { continue }
                let edge = (px > 0 && lab[p - 1] != l) || (px + 1 < pw && lab[p + 1] != l)
                    || (py > 0 && lab[p - pw] != l) || (py + 1 < ph && lab[p + pw] != l)
                if l == highlighted {
                    pixels[p] = edge ? highlight : pixels[p].mixed(with: highlight, 0.35)
                    continue
                }
                switch state.labelMode {
                case .fill: pixels[p] = pixels[p].mixed(with: color(l), state.labelOpacity)
                case .outline: if edge { pixels[p] = pixels[p].mixed(with: color(l), max(state.labelOpacity, 0.8)) }
                case .off: break
                }
            }
        }
    }

    private func drawHeatmap(_ a: AttributionDisplay, index: [Int], pixels: inout [RGB]) {
        let state = explorer.state
        let scale = HeatmapScale(attribution: a, state: state)
        guard scale.clip > 0 else { return }
        let map = state.signedHeatmap ? theme.diverging : theme.sequential
        let opacity = state.heatmapOpacity
        a.map.voxels.withUnsafeBufferPointer { buf in
            for p in 0..<pixels.count where index[p] >= 0 {
                guard let t = scale.position(buf[index[p]]) else { continue }
                pixels[p] = pixels[p].mixed(with: map.color(at: t), opacity)
            }
        }
    }
}

/// The value → colour-map position rule shared by the heatmap, its legend and the report.
public struct HeatmapScale: Sendable {
    public let signed: Bool
    public let processing: AttributionProcessing
    /// Values at or below this magnitude are not drawn.
    public let threshold: Float
    /// Magnitude mapped to the end of the colour map (the clipping percentile of |a|).
    public let clip: Float

    public init(attribution: AttributionDisplay, state: ViewState) {
        signed = state.signedHeatmap
        processing = state.processing
        threshold = state.hideBelowOnePercent ? 0.01 * attribution.maxAbs : 0
        let q = attribution.absQuantile(state.clipPercentile)
        clip = q > 0 ? q : attribution.maxAbs
    }

    /// Colour-map position in 0...1, or nil when the value is hidden.
    @inline(__always)
    public func position(_ a: Float) -> Double? {
        let v = signed ? a : Float(processing.apply(a))
        guard v.isFinite, abs(v) > threshold, v != 0 else { return nil }
        return signed ? 0.5 + 0.5 * Double(max(min(v / clip, 1), -1)) : Double(min(abs(v) / clip, 1))
    }
}
