import AlertsStore
import Foundation
import GRDB
import Synchronization
import Alerts

/// A clock tests move by hand.
package final class ManualClock: Sendable {
    private let value: Mutex<Date>
    package init(_ start: Date) { value = Mutex(start) }
    package var now: Date {
        get { value.withLock { $0 } }
        set { value.withLock { $0 = newValue } }
    }
    @Sendable package func read() -> Date { now }
}

/// A store, a pipeline processor with patrol supervision, and a clock.
package struct PatrolHarness {
    package static let tz = TimeZone(identifier: "Asia/Shanghai")!
    package static let registry = Registry(cameras: [
        CameraRecord(id: "cam-1", name: "North gate camera", location: nil, zone: "Z-1"),
        CameraRecord(id: "cam-2", name: "Market camera", location: nil, zone: "Z-1"),
        CameraRecord(id: "cam-3", name: "School camera", location: nil, zone: "Z-2"),
        CameraRecord(id: "cam-4", name: "Temple lane camera", location: nil, zone: "Z-3"),
    ], devices: [
        DeviceRecord(id: "dev-1", worker: "gw-1", unit: "冲赛康社区居委会", zone: "Z-1"),
        DeviceRecord(id: "dev-2", worker: "gw-2", unit: "八廓社区居委会", zone: "Z-2"),
        DeviceRecord(id: "dev-3", worker: "gw-3", unit: "鲁固社区居委会", zone: "Z-3"),
    ])

    /// One round at 09:00, four stops 15 minutes apart; grace 10, early 10, window 60.
    package static let fourStops = """
        checkpoints:
          - {id: cp-a, name: North gate, zone: Z-1, location: {lat: 29.6500, lon: 91.1300}, radius_m: 50}
          - {id: cp-b, name: Market, zone: Z-1, location: {lat: 29.6510, lon: 91.1310}, radius_m: 50}
          - {id: cp-c, name: School, zone: Z-1, location: {lat: 29.6520, lon: 91.1320}, radius_m: 50}
          - {id: cp-d, name: Temple lane, zone: Z-1, location: {lat: 29.6530, lon: 91.1330}, radius_m: 50}
        routes:
          - id: rt-1
            name: Morning round
            device: dev-1
            checkpoints: [cp-a, {id: cp-b, offset_minutes: 15}, {id: cp-c, offset_minutes: 30}, {id: cp-d, offset_minutes: 45}]
            schedule: {times: ["09:00"]}
            grace_minutes: 10
            early_minutes: 10
            window_minutes: 60
        """

    package let store: DisputeStore
    package let clock: ManualClock
    package let processor: PipelineProcessor
    package let plan: PatrolPlan

    package init(store: DisputeStore, planYAML: String, at start: Date) throws {
        self.store = store
        clock = ManualClock(start)
        plan = try PatrolPlan.parse(ConfigMap.parse(yaml: planYAML, file: "patrol.yaml"), registry: Self.registry, zones: nil, timeZone: Self.tz)
        let registry = Self.registry
        let decode = DecodeStage(router: TopicRouter(), registry: registry, timeParser: TimeParser(defaultZone: Self.tz))
        let engine = RiskEngine(rules: RuleSet()) { e in
            if let c = registry.cameras[e.source] { return Placement(zone: c.zone ?? "unzoned") }
            return Placement(zone: registry.devices[e.source]?.zone ?? "unzoned", unit: registry.devices[e.source]?.unit, worker: registry.devices[e.source]?.worker)
        }
        processor = try PipelineProcessor(store: store, decode: decode, engine: engine, outputPrefix: "patrolhub/v1",
                                          patrol: PatrolStage(plan: plan, outputPrefix: "patrolhub/v1"), clock: clock.read)
    }

    /// A new processor on the same store (a restarted hub), its clock where this one's is.
    package func restarted(store: DisputeStore? = nil, planYAML: String) throws -> PatrolHarness {
        try PatrolHarness(store: store ?? self.store, planYAML: planYAML, at: clock.now)
    }

    package static func local(_ text: String) -> Date { TimeParser(defaultZone: tz).parse(text)! }

    package static func checkin(_ device: String, id: String, checkpoint: String, at time: String, lat: Double? = nil, lon: Double? = nil, method: String = "nfc") -> InboxMessage {
        let loc = lat.map { #","location":{"lat":\#($0),"lon":\#(lon!)}"# } ?? ""
        return InboxMessage(topic: "patrolhub/v1/device/\(device)/checkin",
                            payload: Array(#"{"id":"\#(id)","checkpoint":"\#(checkpoint)","time":"\#(time)+08:00","method":"\#(method)"\#(loc)}"#.utf8),
                            receivedAt: local(time))
    }

    /// Sets the clock, ingests the messages and runs one pipeline pass.
    @discardableResult
    package func process(at time: String, _ messages: [InboxMessage]) throws -> BatchResult {
        clock.now = Self.local(time)
        try store.ingest(messages)
        return try processor.processPending(limit: 100)
    }

    @discardableResult
    package func tick(at time: String) throws -> PatrolTickResult {
        clock.now = Self.local(time)
        return try processor.tickPatrol()
    }

    package func slots() throws -> [String: String] {
        try store.writer.read { db in
            Dictionary(uniqueKeysWithValues: try Row.fetchAll(db, sql: "SELECT id, status FROM patrol_slots").map { ($0[0] as String, $0[1] as String) })
        }
    }

    package func records() throws -> [String] {
        try store.writer.read { db in
            try Row.fetchAll(db, sql: "SELECT kind, status, checkpoint, slot_id FROM patrol_records ORDER BY id").map {
                "\($0[0] as String) \($0[1] as String) \($0[2] as String) \(($0[3] as String?) ?? "-")"
            }
        }
    }

    package func outbox() throws -> [String] { try store.outbox(limit: 1000).map { String(decoding: $0.payload, as: UTF8.self) } }
}
