import Engine

/// Draws one plane (CT, label overlay, heatmap, crosshair) into a rectangle of cells.
struct PlaneRenderer {
    let explorer: Explorer
    let theme: Theme
    let caps: RenderCapabilities
    /// The shared scale (pixels per millimetre at zoom 1); nil fits each plane to its own rectangle.
    var scale: Double? = nil
    /// The colour scale when several maps share one (compare mode); nil: the map's own.
    var heatScale: HeatmapScale? = nil

    /// Per-pixel crosshair marks, so monochrome and ASCII output can draw line glyphs.
    enum Mark: UInt8 { case none, vertical, horizontal, centre }

    /// Shading ramps from dark to bright.
    static let unicodeRamp: [Unicode.Scalar] = [" ", "░", "▒", "▓", "█"]
    static let asciiRamp: [Unicode.Scalar] = [" ", ".", ":", "-", "=", "+", "*", "#", "%"]

    /// Attribution glyphs for monochrome terminals, weak to strong: a layer distinct from the CT
    /// shading ramp, so the heatmap stays visible without colour.
    static let unicodeHeatGlyphs: [Unicode.Scalar] = ["·", "•", "●"]
    static let asciiHeatGlyphs: [Unicode.Scalar] = ["o", "O", "@"]

    func draw(_ plane: Plane, into grid: inout CellGrid, rect image: Rect) {
        guard image.width > 0, image.height > 0 else { return }
        let vp = explorer.viewport(plane, image, scale: scale)
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
        // Attribution strength per pixel (0 = none) for the monochrome glyph layer.
        var heat = [UInt8](repeating: 0, count: pw * ph)

        var lab: [Int32]?
        if let labels = scene.labels, labels.grid.dims == dims {
            var l = [Int32](repeating: 0, count: pw * ph)
            labels.labels.withUnsafeBufferPointer { buf in
                for p in 0..<(pw * ph) where index[p] >= 0 { l[p] = buf[index[p]] }
            }
            lab = l
            drawLabels(l, pixels: &pixels, pw: pw, ph: ph)
        }
        if state.heatmapVisible, let attribution = explorer.attribution, attribution.map.grid.dims == dims {
            drawHeatmap(attribution, index: index, pixels: &pixels, heat: &heat)
        }
        if let lab { drawOutlines(lab, pixels: &pixels, pw: pw, ph: ph) }

        var marks = [Mark](repeating: .none, count: pw * ph)
        drawCrosshair(vp, pixels: &pixels, marks: &marks)

        let bg = theme[.background]
        for y in 0..<image.height {
            for x in 0..<image.width {
                let top = (2 * y) * pw + x, bottom = (2 * y + 1) * pw + x
                grid.set(image.x + x, image.y + y,
                         cell(pixels[top], pixels[bottom], marks[top], marks[bottom],
                              heat: max(heat[top], heat[bottom]), background: bg))
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

    /// The crosshair as a thin translucent line with a gap around the probed voxel, as ticks at the
    /// canvas edges, or not at all.
    private func drawCrosshair(_ vp: PlaneViewport, pixels: inout [RGB], marks: inout [Mark]) {
        let mode = explorer.state.crosshairMode
        guard mode != .off else { return }
        let (pw, ph) = (vp.pixelWidth, vp.pixelHeight)
        let (cx, cy) = vp.crosshairPixel
        let cross = theme[.crosshair]
        // The gap grows with magnification so the probed voxel and its neighbours stay visible.
        let gap = max(3, Int(vp.pixelsPerVoxel.rounded(.up)) + 2)
        let tick = max(2, min(pw, ph) / 12)
        func mark(_ p: Int, _ m: Mark) {
            pixels[p] = pixels[p].mixed(with: cross, 0.6)
            marks[p] = m
        }
        if cx >= 0, cx < pw {
            // Ticks: the first and last `tick` pixels of the column.
            for py in 0..<ph where mode == .line ? abs(py - cy) > gap : (py < tick || py >= ph - tick) {
                mark(py * pw + cx, .vertical)
            }
        }
        if cy >= 0, cy < ph {
            for px in 0..<pw where mode == .line ? abs(px - cx) > gap : (px < tick || px >= pw - tick) {
                mark(cy * pw + px, .horizontal)
            }
        }
        if mode == .line, cx >= 0, cx < pw, cy >= 0, cy < ph { marks[cy * pw + cx] = .centre }
    }

    /// Whether attribution is drawn as a glyph layer: without colour, or when the theme's
    /// sequential map is greys only and would look like CT shading.
    var glyphHeatmap: Bool { !caps.depth.hasColor || theme.sequential.isGreyscale }

    /// Combines a cell's two pixels into a glyph for the terminal's capabilities.
    private func cell(_ top: RGB, _ bottom: RGB, _ mt: Mark, _ mb: Mark, heat: UInt8, background: RGB) -> Cell {
        let mark = mt == .centre || mb == .centre ? Mark.centre : mt != .none ? mt : mb
        let depth = caps.depth
        let avg = top.mixed(with: bottom, 0.5)
        if heat > 0 && glyphHeatmap && mark == .none {
            let glyphs = caps.unicode ? Self.unicodeHeatGlyphs : Self.asciiHeatGlyphs
            return Cell(glyphs[min(Int(heat) - 1, glyphs.count - 1)], fg: .white,
                        bg: depth.hasColor ? avg.mixed(with: .black, 0.5) : .black, attrs: .bold)
        }
        let halfBlocks = caps.unicode && depth.hasColor
        if mark != .none && !halfBlocks {
            let glyph: Unicode.Scalar = mark == .vertical ? "|" : mark == .horizontal ? "-" : "+"
            return Cell(glyph, fg: theme[.crosshair], bg: depth.hasColor ? avg : background,
                        attrs: depth.hasColor ? [] : .bold)
        }
        if depth == .palette16 || depth == .palette8 {
            // Few colours: greys are drawn from the palette's greys with shading glyphs in between
            // (nearest-colour matching would turn mid greys into yellow or cyan).
            if top.isGrey && bottom.isGrey { return greyCell(avg, depth: depth) }
            return halfBlocks ? Cell("▀", fg: top, bg: bottom) : Cell(" ", fg: avg, bg: avg)
        }
        if halfBlocks { return Cell("▀", fg: top, bg: bottom) }
        if depth.hasColor { return Cell(" ", fg: avg, bg: avg) }
        let ramp = caps.unicode ? Self.unicodeRamp : Self.asciiRamp
        let level = min(Int(avg.luminance * Double(ramp.count)), ramp.count - 1)
        return Cell(ramp[level], fg: .white, bg: .black)
    }

    /// A grey at 8 or 16 colours: the two palette greys around it, mixed by a shading glyph.
    private func greyCell(_ c: RGB, depth: ColorDepth) -> Cell {
        let greys = depth.greys
        let pos = Double(c.r) / 255 * Double(greys.count - 1)
        let lo = min(Int(pos), greys.count - 2)
        let step = Int(((pos - Double(lo)) * 4).rounded())
        if step == 4 { return Cell(" ", fg: greys[lo + 1], bg: greys[lo + 1]) }
        let shades: [Unicode.Scalar] = caps.unicode ? [" ", "░", "▒", "▓"] : [" ", ".", ":", "#"]
        return Cell(shades[step], fg: greys[lo + 1], bg: greys[lo])
    }

    /// The label overlay before the heatmap: fills or outlines in the categorical palette, skipping
    /// labels the user hid, and a light tint on the highlighted segment.
    private func drawLabels(_ lab: [Int32], pixels: inout [RGB], pw: Int, ph: Int) {
        let state = explorer.state
        let mode = explorer.effectiveLabelMode
        let highlighted = state.highlighted
        guard mode != .off || highlighted != nil else { return }
        var colors: [Int32: RGB] = [:]
        func color(_ l: Int32) -> RGB {
            if let c = colors[l] { return c }
            let c = explorer.labelColor(l)
            colors[l] = c
            return c
        }
        let highlight = theme[.highlight]
        let hidden = state.hiddenLabels
        for py in 0..<ph {
            for px in 0..<pw {
                let p = py * pw + px
                let l = lab[p]
                guard l != 0 else { continue }
                if l == highlighted {
                    pixels[p] = pixels[p].mixed(with: highlight, 0.25)
                    continue
                }
                if hidden.contains(l) { continue }
                switch mode {
                case .fill: pixels[p] = pixels[p].mixed(with: color(l), state.labelOpacity)
                case .outline:
                    if Self.isEdge(lab, p, px, py, pw, ph) {
                        pixels[p] = pixels[p].mixed(with: color(l), max(state.labelOpacity, 0.6))
                    }
                case .off, .auto: break
                }
            }
        }
    }

    /// Outlines drawn over the heatmap so they stay visible in hot regions: the target's own
    /// segments in the reserved target colour, the highlighted segment in the highlight colour.
    private func drawOutlines(_ lab: [Int32], pixels: inout [RGB], pw: Int, ph: Int) {
        let highlighted = explorer.state.highlighted
        let targets = explorer.targetLabels
        guard highlighted != nil || !targets.isEmpty else { return }
        let targetColor = theme[.targetOutline], highlight = theme[.highlight]
        for py in 0..<ph {
            for px in 0..<pw {
                let p = py * pw + px
                let l = lab[p]
                guard l != 0, l == highlighted || targets.contains(l), Self.isEdge(lab, p, px, py, pw, ph) else { continue }
                pixels[p] = l == highlighted ? highlight : targetColor
            }
        }
    }

    @inline(__always)
    private static func isEdge(_ lab: [Int32], _ p: Int, _ px: Int, _ py: Int, _ pw: Int, _ ph: Int) -> Bool {
        let l = lab[p]
        return (px > 0 && lab[p - 1] != l) || (px + 1 < pw && lab[p + 1] != l)
            || (py > 0 && lab[p - pw] != l) || (py + 1 < ph && lab[p + pw] != l)
    }

    /// Blends the colour map over the CT. Opacity rises with the map position (sequential) or with
    /// the distance from zero (diverging), so weak values and the diverging zero stay transparent
    /// and the CT shows through; hidden values leave the CT untouched.
    private func drawHeatmap(_ a: AttributionDisplay, index: [Int], pixels: inout [RGB], heat: inout [UInt8]) {
        let state = explorer.state
        let scale = heatScale ?? HeatmapScale(attribution: a, state: state)
        guard scale.clip > 0 else { return }
        let map = state.signedHeatmap ? theme.diverging : theme.sequential
        let opacity = state.heatmapOpacity
        let signed = state.signedHeatmap
        a.map.voxels.withUnsafeBufferPointer { buf in
            for p in 0..<pixels.count where index[p] >= 0 {
                guard let t = scale.position(buf[index[p]]) else { continue }
                let strength = signed ? abs(2 * t - 1) : t
                pixels[p] = pixels[p].mixed(with: map.color(at: t), opacity * HeatmapScale.alpha(strength))
                heat[p] = strength < 1.0 / 3 ? 1 : strength < 2.0 / 3 ? 2 : 3
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

    /// One scale for several maps (compare mode): the largest clip and the largest threshold, so
    /// equal colours mean equal values in every map.
    public init(shared attributions: [AttributionDisplay], state: ViewState) {
        signed = state.signedHeatmap
        processing = state.processing
        let maxAbs = attributions.map(\.maxAbs).max() ?? 0
        threshold = state.hideBelowOnePercent ? 0.01 * maxAbs : 0
        clip = attributions.map { a -> Float in
            let q = a.absQuantile(state.clipPercentile)
            return q > 0 ? q : a.maxAbs
        }.max() ?? 0
    }

    /// Opacity factor for a strength in 0...1 (|a| relative to the clip): rises linearly over the
    /// lowest eighth, then stays 1, so values near zero barely tint the CT.
    @inline(__always)
    public static func alpha(_ strength: Double) -> Double { min(1, 8 * max(strength, 0)) }

    /// Colour-map position in 0...1, or nil when the value is hidden.
    @inline(__always)
    public func position(_ a: Float) -> Double? {
        let v = signed ? a : Float(processing.apply(a))
        guard v.isFinite, abs(v) > threshold, v != 0 else { return nil }
        return signed ? 0.5 + 0.5 * Double(max(min(v / clip, 1), -1)) : Double(min(abs(v) / clip, 1))
    }
}
