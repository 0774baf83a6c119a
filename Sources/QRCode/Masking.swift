/// The eight data masks and the penalty rules used to pick one (ISO/IEC 18004, 7.8).
/// A mask breaks up patterns in the data that could confuse a reader: large single-colour
/// areas, or shapes that look like finder patterns.
enum Mask {
    static let all = 0..<8

    /// Whether `mask` flips the module at column `x`, row `y` (the standard's table 10,
    /// written with i = row, j = column).
    static func isFlipped(_ mask: Int, x: Int, y: Int) -> Bool {
        switch mask {
        case 0: (x + y) % 2 == 0
        case 1: y % 2 == 0
        case 2: x % 3 == 0
        case 3: (x + y) % 3 == 0
        case 4: (x / 3 + y / 2) % 2 == 0
        case 5: x * y % 2 + x * y % 3 == 0
        case 6: (x * y % 2 + x * y % 3) % 2 == 0
        default: ((x + y) % 2 + x * y % 3) % 2 == 0   // mask 7
        }
    }
}

/// Scores a finished symbol (mask and format bits applied); lower is better.
enum Penalty {
    /// N1 + N2 + N3 + N4 over rows and columns.
    static func score(_ matrix: ModuleMatrix) -> Int {
        let size = matrix.size
        var total = 0
        for index in 0..<size {
            let row = (0..<size).map { matrix[$0, index] }
            let column = (0..<size).map { matrix[index, $0] }
            total += runPenalty(row) + finderLikePenalty(row)
            total += runPenalty(column) + finderLikePenalty(column)
        }
        return total + blockPenalty(matrix) + balancePenalty(matrix)
    }

    /// N1: each run of five or more same-coloured modules in a line costs 3, plus 1 per
    /// module beyond five.
    static func runPenalty(_ line: [Bool]) -> Int {
        var penalty = 0
        var runLength = 0
        for (index, module) in line.enumerated() {
            if index > 0 && module == line[index - 1] {
                runLength += 1
            } else {
                runLength = 1
            }
            if runLength == 5 {
                penalty += 3
            } else if runLength > 5 {
                penalty += 1
            }
        }
        return penalty
    }

    /// N2: each 2x2 square of one colour costs 3 (overlapping squares all count).
    static func blockPenalty(_ matrix: ModuleMatrix) -> Int {
        var penalty = 0
        for y in 0..<(matrix.size - 1) {
            for x in 0..<(matrix.size - 1) {
                let colour = matrix[x, y]
                if matrix[x + 1, y] == colour && matrix[x, y + 1] == colour && matrix[x + 1, y + 1] == colour {
                    penalty += 3
                }
            }
        }
        return penalty
    }

    /// N3: each dark-light-dark-dark-dark-light-dark run (1:1:3:1:1) with four light modules
    /// on one side costs 40; one with light on both sides counts twice. The area outside
    /// the symbol counts as light, as the quiet zone will be. Encoders read this rule a little
    /// differently (some also count the pattern at double scale), so they may pick different
    /// masks for the same data; every mask decodes, the score only favours easier reading.
    static func finderLikePenalty(_ line: [Bool]) -> Int {
        // Slide an 11-bit window over the line with four light modules added at each end;
        // the oldest module is the highest bit, so the literals read in line order.
        let lightBefore = 0b0000_1011101     // four light modules, then the 1:1:3:1:1 core
        let lightAfter = 0b1011101_0000      // the core, then four light modules
        let padding = [Bool](repeating: false, count: 4)
        var window = 0
        var seen = 0
        var penalty = 0
        for module in padding + line + padding {
            window = (window << 1 | (module ? 1 : 0)) & 0x7FF
            seen += 1
            guard seen >= 11 else { continue }
            if window == lightBefore { penalty += 40 }
            if window == lightAfter { penalty += 40 }
        }
        return penalty
    }

    /// N4: 10 points for every full 5% by which the share of dark modules strays from 50%.
    static func balancePenalty(_ matrix: ModuleMatrix) -> Int {
        let total = matrix.size * matrix.size
        let dark = matrix.modules.reduce(0) { $0 + ($1 ? 1 : 0) }
        // |dark/total - 1/2| / 5%  ==  |20·dark - 10·total| / total
        return abs(dark * 20 - total * 10) / total * 10
    }
}
