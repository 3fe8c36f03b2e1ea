import Foundation

extension PatrolPlan {
    /// `YYYY-MM-DD HH:MM` in the plan's zone, as letters print times.
    public func localText(_ date: Date) -> String {
        let c = calendar.dateComponents([.year, .month, .day, .hour, .minute], from: date)
        func p(_ v: Int) -> String { v < 10 ? "0\(v)" : "\(v)" }
        return "\(c.year!)-\(p(c.month!))-\(p(c.day!)) \(p(c.hour!)):\(p(c.minute!))"
    }

    /// `HH:MM` in the plan's zone.
    public func clockText(_ date: Date) -> String { String(localText(date).suffix(5)) }
}
