/// Formats numbers with exactly two decimals, without Foundation's locale-dependent formatters.
enum Decimal2 {
    /// `value` rounded to two decimals: `1.5` → `"1.50"`, `0.004` → `"0.00"`.
    static func format(_ value: Double) -> String {
        guard value.isFinite else { return String(value) }
        let hundredths = Int64((abs(value) * 100).rounded())
        let sign = value < 0 && hundredths != 0 ? "-" : ""
        let fraction = hundredths % 100
        return "\(sign)\(hundredths / 100)." + (fraction < 10 ? "0" : "") + "\(fraction)"
    }
}
