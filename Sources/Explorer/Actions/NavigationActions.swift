import Foundation
import Engine

extension Explorer {
    /// Crosshair, slices, focus, zoom and pan, maximised plane, peak jumps and the go-to prompt.
    mutating func performNavigation(_ action: Action) -> Reaction {
        let dims = scene.ct.grid.dims
        switch action {
        case .moveCrosshair(let dx, let dy):
            guard let plane = state.focus.plane else {
                return perform(.selectRow(state.selectedRow + dy))
            }
            let axes = PlaneAxes(plane: plane, affine: scene.ct.grid.affine)
            moveAxis(axes.horizontal, by: axes.flipHorizontal ? -dx : dx)
            moveAxis(axes.vertical, by: axes.flipVertical ? -dy : dy)
            return .redraw
        case .stepSlice(let n):
            let plane = state.focus.plane ?? .axial
            moveAxis(PlaneAxes(plane: plane, affine: scene.ct.grid.affine).normal, by: n)
            return .redraw
        case .focusNext:
            state.focus = Focus(rawValue: (state.focus.rawValue + 1) % Focus.allCases.count) ?? .axial
            return .redraw
        case .focusPrevious:
            state.focus = Focus(rawValue: (state.focus.rawValue + Focus.allCases.count - 1) % Focus.allCases.count)
                ?? .axial
            return .redraw
        case .zoomIn, .zoomOut:
            let plane = state.focus.plane ?? .axial
            let factor = action == .zoomIn ? 1.25 : 0.8
            if state.linked {
                state.sharedZoom = min(max(state.sharedZoom * factor, 1), 16)
                if state.sharedZoom == 1 { state.sharedCenter = nil }
                else if state.sharedCenter == nil { state.sharedCenter = state.crosshair.map { Double($0) + 0.5 } }
                state.message = StatusMessage(String(format: "Zoom %.1f× (all planes; u unlinks)", state.sharedZoom))
                return .redraw
            }
            var view = state.planes[plane.rawValue]
            view.zoom = min(max(view.zoom * factor, 1), 16)
            if view.zoom == 1 { view.center = nil } else if view.center == nil {
                let axes = PlaneAxes(plane: plane, affine: scene.ct.grid.affine)
                let c = PlaneViewport.displayPoint(grid: scene.ct.grid, axes: axes, h: state.crosshair[axes.horizontal],
                                                   v: state.crosshair[axes.vertical])
                view.center = [c.0, c.1]
            }
            state.planes[plane.rawValue] = view
            state.message = StatusMessage(String(format: "Zoom %.1f× (%@ only; u links)", view.zoom, plane.title))
            return .redraw
        case .zoomReset:
            if state.linked {
                state.sharedZoom = 1
                state.sharedCenter = nil
            } else {
                state.planes[(state.focus.plane ?? .axial).rawValue] = PlaneView()
            }
            return .redraw
        case .pan(let dx, let dy):
            let plane = state.focus.plane ?? .axial
            let grid = scene.ct.grid
            let axes = PlaneAxes(plane: plane, affine: grid.affine)
            let (extentH, extentV) = PlaneViewport.extent(of: plane, grid: grid)
            if state.linked {
                // One step moves a tenth of the visible extent, along the plane's screen axes.
                var c = state.sharedCenter ?? dims.map { Double($0) / 2 }
                let zoom = state.sharedZoom
                let stepH = Double(dx) * Double(dims[axes.horizontal]) / 10 / zoom
                let stepV = Double(dy) * Double(dims[axes.vertical]) / 10 / zoom
                c[axes.horizontal] += axes.flipHorizontal ? -stepH : stepH
                c[axes.vertical] += axes.flipVertical ? -stepV : stepV
                for a in 0..<3 { c[a] = min(max(c[a], 0), Double(dims[a])) }
                state.sharedCenter = c
                return .redraw
            }
            var view = state.planes[plane.rawValue]
            var c = view.center ?? [extentH / 2, extentV / 2]
            c[0] = min(max(c[0] + Double(dx) * extentH / 10 / view.zoom, 0), extentH)
            c[1] = min(max(c[1] + Double(dy) * extentV / 10 / view.zoom, 0), extentV)
            view.center = c
            state.planes[plane.rawValue] = view
            return .redraw
        case .toggleLink:
            state.linked.toggle()
            if state.linked {
                state.planes = Array(repeating: PlaneView(), count: 3)
            } else {
                // Each plane starts from the linked view it showed.
                for plane in Plane.allCases {
                    var view = PlaneView()
                    view.zoom = state.sharedZoom
                    if let c = state.sharedCenter {
                        let p = PlaneViewport.displayPoint(grid: scene.ct.grid,
                                                           axes: PlaneAxes(plane: plane, affine: scene.ct.grid.affine),
                                                           point: c)
                        view.center = [p.0, p.1]
                    }
                    state.planes[plane.rawValue] = view
                }
                state.sharedZoom = 1
                state.sharedCenter = nil
            }
            state.message = StatusMessage(state.linked ? "Zoom and pan linked across planes"
                                          : "Zoom and pan per plane (u links again)")
            return .redraw
        case .toggleMaximize:
            let plane = state.focus.plane ?? .axial
            state.maximized = state.maximized == plane ? nil : plane
            if state.maximized != nil { state.focus = Focus(rawValue: plane.rawValue) ?? .axial }
            return .resize
        case .jumpToPeak(let step):
            return jumpToPeak(step)
        case .openPrompt:
            state.prompt = ""
            return .redraw
        default:
            preconditionFailure("\(action) is not a navigation action")
        }
    }

    mutating func jumpToPeak(_ step: Int) -> Reaction {
        guard let attribution else {
            state.message = StatusMessage("No attribution map to jump in yet", isError: true)
            return .redraw
        }
        let peaks = self.peaks
        guard !peaks.isEmpty else {
            state.message = StatusMessage("No \(state.processing.rawValue) attribution above 0 to jump to", isError: true)
            return .redraw
        }
        let n = peaks.count
        let i = state.peakIndex.map { (($0 + step) % n + n) % n } ?? (step > 0 ? 0 : n - 1)
        state.peakIndex = i
        state.crosshair = peaks[i]
        let p = peaks[i]
        let value = attribution.map[p[0], p[1], p[2]]
        state.message = StatusMessage("Peak \(i + 1)/\(n): a = \(String(format: "%.4g", value)) at voxel "
                                      + p.map(String.init).joined(separator: " ") + " (z next, Z previous)")
        return .redraw
    }

    mutating func moveAxis(_ axis: Int, by n: Int) {
        state.crosshair[axis] = min(max(state.crosshair[axis] + n, 0), scene.ct.grid.dims[axis] - 1)
    }
}
