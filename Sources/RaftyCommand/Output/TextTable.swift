/// Formats rows as left-aligned columns separated by two spaces (like `kubectl get`).
enum TextTable {
    /// The table as lines joined by `\n`, header first; trailing spaces trimmed.
    ///
    /// Columns are as wide as their widest cell (counted in characters). Rows shorter than the
    /// header are padded with empty cells.
    static func render(header: [String], rows: [[String]]) -> String {
        let all = [header] + rows
        let widths = header.indices.map { column in
            all.map { column < $0.count ? $0[column].count : 0 }.max() ?? 0
        }
        return all.map { row in
            let cells = header.indices.map { column -> String in
                let cell = column < row.count ? row[column] : ""
                return cell + String(repeating: " ", count: widths[column] - cell.count)
            }
            var line = cells.joined(separator: "  ")
            while line.hasSuffix(" ") { line.removeLast() }
            return line
        }.joined(separator: "\n")
    }
}
