import Foundation

extension PatrolPlan {
    /// `YYYY-MM-DD HH:MM` in the plan's zone, as letters print times.
    public func localText(_ date: Date) -> String { HubFormat.minute(date, in: timeZone) }

    /// `HH:MM` in the plan's zone.
    public func clockText(_ date: Date) -> String { HubFormat.hourMinute(date, in: timeZone) }
}
