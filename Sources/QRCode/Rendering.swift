extension QRCode {
    /// Terminal rendering with Unicode half blocks: each text line shows two module rows, so
    /// the code looks square in a terminal whose cells are about twice as tall as wide.
    ///
    /// Only '█', '▀', '▄' and ' ' are used (no ANSI colours), so the output survives logs and
    /// any terminal. A glyph paints in the terminal's text colour, a space shows its background:
    /// - `invert == false` (default, for light text on a dark background): light modules are
    ///   painted, dark modules are spaces.
    /// - `invert == true` (for dark text on a light background): dark modules are painted.
    ///
    /// The quiet zone is 2 modules, as terminals are cramped and phone readers cope; pass
    /// `fullQuietZone` for the 4 the standard asks for. Lines are joined with "\n", without a
    /// final newline, and all have the same width.
    public func terminalString(invert: Bool = false, fullQuietZone: Bool = false) -> String {
        let quiet = fullQuietZone ? 4 : 2
        let span = size + 2 * quiet

        // Whether the module at padded coordinates is painted; the half row below the last
        // one (the span is odd) is not part of the picture and never painted.
        func painted(_ x: Int, _ y: Int) -> Bool {
            guard y < span else { return false }
            return self[x - quiet, y - quiet] == invert
        }

        var lines: [String] = []
        for top in stride(from: 0, to: span, by: 2) {
            var line = ""
            line.unicodeScalars.reserveCapacity(span)
            for x in 0..<span {
                switch (painted(x, top), painted(x, top + 1)) {
                case (true, true): line.unicodeScalars.append("█")
                case (true, false): line.unicodeScalars.append("▀")
                case (false, true): line.unicodeScalars.append("▄")
                case (false, false): line.unicodeScalars.append(" ")
                }
            }
            lines.append(line)
        }
        return lines.joined(separator: "\n")
    }

    /// A compact SVG: a white square and one black `<path>` made of a rectangle per horizontal
    /// run of dark modules. The viewBox counts modules (quiet zone of 4 included) and
    /// `moduleSize` (clamped to 1...1000) sets the pixel width and height per module; `crispEdges`
    /// keeps adjacent runs from showing hairline seams.
    public func svg(moduleSize: Int = 8) -> String {
        let quiet = 4
        let span = size + 2 * quiet
        let pixels = span * min(max(1, moduleSize), 1000)

        var path = ""
        for y in 0..<size {
            var x = 0
            while x < size {
                guard self[x, y] else {
                    x += 1
                    continue
                }
                let start = x
                while x < size && self[x, y] { x += 1 }
                let width = x - start
                path += "M\(start + quiet),\(y + quiet)h\(width)v1h-\(width)z"
            }
        }

        return """
            <svg xmlns="http://www.w3.org/2000/svg" width="\(pixels)" height="\(pixels)" \
            viewBox="0 0 \(span) \(span)" shape-rendering="crispEdges">\
            <rect width="\(span)" height="\(span)" fill="#fff"/>\
            <path fill="#000" d="\(path)"/></svg>

            """
    }
}
