import Foundation
@testable import Simulation
import Testing

@testable import Alerts

/// SPEC.md "Severity from foreign sources": a vendor's priority is a hint to the
/// category's configured severity, never the risk itself.
@Suite("Vendor priority")
struct VendorPriorityTests {
    static let t0 = Date(timeIntervalSince1970: 1_800_000_000)

    static func severity(_ category: Category, priority: Severity?, eventSeverity: Severity? = nil, rules: RuleSet = RuleSet(),
                         format: String = "gb28181") -> Severity? {
        var engine = RiskEngine(rules: rules) { _ in Placement(zone: "Z-1") }
        let event = NormalizedEvent(key: "k", sourceKind: .camera, source: "cam-1", category: category, severity: eventSeverity,
                                    time: t0, format: format, vendorPriority: priority)
        for case .item(let item) in engine.handle(event, now: t0) { return item.severity }
        return nil
    }

    /// (category, configured severity or nil for the default, priority, expected).
    static let table: [(Category, Severity?, Severity?, Severity)] = [
        (.motion, .info, .critical, .info),               // Hikvision/Dahua 视频动检 at priority 1
        (.motion, nil, .critical, .info),
        (.motion, .minor, .critical, .minor),             // configured 3: still the ceiling
        (.cameraOffline, nil, .critical, .minor),
        (.cameraTampered, nil, .critical, .major),
        (.cameraDegraded, nil, .critical, .info),
        (.cameraOffline, nil, .info, .minor),             // nor lowered
        (.intrusion, nil, .critical, .critical),          // ordinary: raised to the priority
        (.intrusion, nil, .major, .major),
        (.intrusion, nil, .info, .minor),                 // never lowered
        (.intrusion, nil, nil, .minor),                   // no priority: the configured severity
        (.intrusion, .major, .info, .major),
        (.intrusion, .info, .minor, .minor),
        (.fireSmoke, nil, .info, .critical),
        (.other, nil, .critical, .critical),
        (.other, nil, nil, .info),
    ]

    @Test("configured severity × vendor priority", arguments: table)
    func rule(_ row: (Category, Severity?, Severity?, Severity)) {
        var rules = RuleSet()
        if let configured = row.1 { rules.severities[row.0] = configured }
        #expect(Self.severity(row.0, priority: row.2, rules: rules) == row.3)
        #expect(rules.vendorPriority.severity(configured: rules.severity(of: row.0), priority: row.2, category: row.0) == row.3)
    }

    @Test("events without a vendor priority get exactly their configured severity, or their adapter rule's")
    func otherFormatsUnchanged() {
        var rules = RuleSet()
        rules.severities[.intrusion] = .info
        rules.severities[.motion] = .minor
        for category in Category.allCases where category.family != .patrol {
            #expect(Self.severity(category, priority: nil, rules: rules, format: "native") == rules.severity(of: category), "\(category)")
        }
        // A Frigate/ONVIF rule's own severity (differs from the default) stands, as before.
        #expect(Self.severity(.intrusion, priority: nil, eventSeverity: .critical, rules: rules, format: "frigate") == .critical)
        // And a rule's severity is combined with a priority like a configured one.
        #expect(Self.severity(.intrusion, priority: .info, eventSeverity: .major, rules: rules) == .major)
    }

    @Test("a GB health alarm keeps the health category's configured severity whatever its priority")
    func healthStatusIgnoresPriority() {
        var engine = RiskEngine(rules: RuleSet()) { _ in Placement(zone: "Z-1") }
        let event = NormalizedEvent(key: "k", kind: .cameraStatus(.signalLost), sourceKind: .camera, source: "cam-1",
                                    category: .cameraOffline, time: Self.t0, format: "gb28181", vendorPriority: .critical)
        let items = engine.handle(event, now: Self.t0).compactMap { effect -> RiskItem? in
            if case .item(let item) = effect { return item } else { return nil }
        }
        #expect(items.map(\.severity) == [.minor])
    }

    @Test("the native status topic and scenarios accept exactly SPEC.md's statuses, not degraded")
    func degradedIsNotNative() throws {
        #expect(CameraStatus.nativeCases.map(\.rawValue) == ["online", "offline", "tampered", "signal_lost", "image_too_dark", "image_blurry"])
        #expect(CameraStatus.degraded.healthCategory == .cameraDegraded)
        let decoder = NativeCameraDecoder()
        let payload = Array(#"{"status":"degraded","time":"2026-11-29T08:29:00Z"}"#.utf8)
        #expect {
            _ = try decoder.decodeStatus(camera: "cam-1", topic: "patrolhub/v1/camera/cam-1/status", payload: payload)
        } throws: { error in
            guard let e = error as? HubError else { return false }
            return e.reason == .invalidValue && !e.detail.contains("degraded,") && e.detail.contains("image_blurry")
        }
        let ok = Array(#"{"status":"image_blurry","time":"2026-11-29T08:29:00Z"}"#.utf8)
        #expect(try decoder.decodeStatus(camera: "cam-1", topic: "patrolhub/v1/camera/cam-1/status", payload: ok).kind == .cameraStatus(.imageBlurry))
        for yaml in ["name: x\nduration: 10m\noutages:\n  - {camera: cam-1, at: 1m, status: degraded}\n",
                     "name: x\nduration: 10m\nincidents:\n  - id: a\n    steps:\n      - {at: 1m, camera: cam-1, status: degraded}\n"] {
            #expect(throws: HubError.self) { try ScenarioParser.parse(yaml: yaml, file: "x.yaml") }
        }
    }
}
