import Foundation

/// How a vendor's alarm priority (`NormalizedEvent.vendorPriority`, e.g. GB/T 28181
/// `AlarmPriority`) and a category's configured severity combine (SPEC.md
/// "Severity from foreign sources"): `vendor_priority:` in `rules.yaml`.
///
/// The category's configured severity (`categories.{name}.severity`, else its
/// default) is where every event starts. A priority never lowers it: a camera
/// that calls an intrusion priority 4 does not make it less urgent than the
/// dispatch room configured. It may raise it (the more severe of the two), except
/// for the low-risk categories, where the configured severity is a ceiling no
/// priority breaks: plain video motion at GB priority 1, which Hikvision and Dahua
/// cameras send for every motion alarm, stays `motion`'s severity. Whether a format's
/// priority is passed on at all is the adapter's setting (`adapters.gb28181.priority`).
///
/// ```yaml
/// vendor_priority:
///   low_risk_categories: [motion, camera_offline, camera_tampered, camera_degraded]
/// ```
public struct VendorPriorityRules: Sendable, Equatable {
    /// Categories whose configured severity a vendor priority cannot raise.
    public var lowRiskCategories: Set<Category> = VendorPriorityRules.defaultLowRiskCategories

    /// Motion and camera health.
    public static let defaultLowRiskCategories: Set<Category> = [.motion, .cameraOffline, .cameraTampered, .cameraDegraded]

    /// The defaults above.
    public init() {}

    /// The severity of an event of `category` whose configured severity is
    /// `configured`, reported at vendor priority `priority` (nil: none given).
    public func severity(configured: Severity, priority: Severity?, category: Category) -> Severity {
        guard let priority, !lowRiskCategories.contains(category) else { return configured }
        return min(configured, priority)
    }

    static func parse(_ m: ConfigMap) throws(HubError) -> VendorPriorityRules {
        var r = VendorPriorityRules()
        if let names = try m.stringList("low_risk_categories") {
            var categories: Set<Category> = []
            for name in names { categories.insert(try CaseRules.category(name, m, "low_risk_categories")) }
            r.lowRiskCategories = categories
        }
        try m.finish()
        return r
    }
}
