import Alerts
@testable import AlertsStore
import Foundation
import GRDB
import Testing
@testable import PatrolHub

/// A live hub on the sample district (real broker, real SQLite, HTTP on a
/// free port) filled through the real pipeline, plus two cases written
/// through `DisputeStore` as the case lifecycle would leave them.
///
/// Camera A (cam-001) and camera B (the first camera in another street) publish:
/// - A: a fight at t0 (severity 1: a warning slip at once), motion at t0+2 min;
/// - B: intrusions at t0+0.5, +3 and +6 min (three risk items, the first two
///   closed by the next; three occurrences: a warning slip), a drill loitering at t0+4;
/// - one malformed message (a dead letter).
///
/// Cases: AJ-00000001 (grid A, fight, new), AJ-00000002 (grid B, intrusion,
/// acknowledged by desk-1 with one transition), AJ-00000003 (grid B, resolved).
struct DispatchFixture {
    let hub: TestHub
    let pub: TestPublisher
    let port: Int
    let t0: Date
    let gridA: Zone
    let gridB: Zone
    let streetB: String
    let district: String
    let cameraA = "cam-001"
    let cameraB: String

    var store: DisputeStore { hub.store }
    func client(token: String? = nil) -> TestHTTPClient { TestHTTPClient(port: port, token: token) }
    func at(_ minutes: Double) -> Date { t0.addingTimeInterval(minutes * 60) }

    static let zonesFile = packageRoot.appendingPathComponent("config/zones.geojson").path
    static let camerasFile = packageRoot.appendingPathComponent("config/cameras.csv").path

    /// Runs `body` against a filled hub; `tokens` is a token file's text (nil: no auth, loopback);
    /// `configure` changes the hub's config further.
    static func run(tokens: String? = nil, configure: (inout HubConfig) -> Void = { _ in }, _ body: (DispatchFixture) async throws -> Void) async throws {
        let tokenDir = TempDir("patrolhub-tokens")
        defer { tokenDir.cleanup() }
        let tokensFile = tokens.map { tokenDir.write("tokens.txt", $0) }
        try await withLiveHub(configure: { c in
            c.zonesFile = zonesFile
            c.camerasFile = camerasFile
            c.http.tokensFile = tokensFile
            configure(&c)
        }) { _, hub, pub in
            let index = try #require(hub.hub.placer.zones)
            func chain(_ camera: String) throws -> [Zone] {
                var zones: [Zone] = []
                var code = hub.hub.placer.cameraPlacement(camera)?.zone
                while let c = code, let z = index.zone(code: c) { zones.insert(z, at: 0); code = z.parent }
                return zones
            }
            let chainA = try chain("cam-001")
            var cameraB: String?
            var chainB: [Zone] = []
            for id in hub.hub.registry.cameras.keys.sorted() {
                let c = try chain(id)
                if c.count == 4, chainA.count == 4, c[1].code != chainA[1].code { cameraB = id; chainB = c; break }
            }
            let b = try #require(cameraB, "the sample has cameras in two streets")
            let port = try await hub.hub.http!.waitForPort()
            let f = DispatchFixture(hub: hub, pub: pub, port: port, t0: Date().addingTimeInterval(-1800), gridA: chainA[3], gridB: chainB[3],
                                    streetB: chainB[1].code, district: chainA[0].code, cameraB: b)
            try await f.fill()
            try await body(f)
        }
    }

    private func fill() async throws {
        let messages: [(String, [UInt8])] = [
            (eventTopic(cameraA), cameraEvent("fx-fight", type: "fight", time: at(0))),
            (eventTopic(cameraB), cameraEvent("fx-i1", type: "intrusion", time: at(0.5))),
            (eventTopic(cameraA), cameraEvent("fx-motion", type: "motion", time: at(2))),
            (eventTopic(cameraB), cameraEvent("fx-i2", type: "intrusion", time: at(3))),
            (eventTopic(cameraB), cameraEvent("fx-drill", type: "loitering", time: at(4), extra: #","drill":true"#)),
            (eventTopic(cameraB), cameraEvent("fx-i3", type: "intrusion", time: at(6))),
            (eventTopic(cameraA), Array("{not json".utf8)),
        ]
        try await pub.publishAll(messages)
        try await hub.waitProcessed(received: messages.count)
        let items = try store.riskItems()
        guard items.count == 6 else { throw TestFailure("the fixture expects 6 risk items, found \(items.count)") }
        let fight = try #require(items.first { $0.category == .fight })
        let opened = try await store.writer.read { db in try DisputeStore.fetchCases(db: db) }
        guard opened.count == 1, let c1 = opened.first, c1.id == Case.id(1), c1.rule == .severity, c1.riskItemIDs == [fight.id], c1.zone == gridA.code else {
            throw TestFailure("the fixture expects the engine to open one case, for the fight in grid A; found \(opened.map(\.json.serialized))")
        }
        let intrusions = items.filter { $0.category == .intrusion }.map(\.id).sorted()
        var c2 = Case(id: Case.id(101), rule: .correlation, zone: gridB.code, category: .intrusion, severity: .minor, unit: gridB.unit,
                      openedAt: at(7), dueAt: at(7).addingTimeInterval(30 * 86_400), explanation: "Correlation: three intrusions in one grid.",
                      riskItemIDs: intrusions, sources: [cameraB], categories: [.intrusion])
        let c3 = Case(id: Case.id(102), rule: .patrolReport, zone: gridB.code, category: .dispute, severity: .minor, state: .resolved, unit: gridB.unit,
                      openedAt: at(8), dueAt: at(8).addingTimeInterval(30 * 86_400), explanation: "A grid worker reported a dispute.",
                      riskItemIDs: [], sources: ["gw-dev"], categories: [.dispute], outcome: "mediated", resolvedAt: at(9))
        try await store.writer.write { [c2] db in
            try DisputeStore.write(case: c2, evidenceAt: at(6), db: db)
            try DisputeStore.write(case: c3, evidenceAt: at(8), db: db)
        }
        // An operator acknowledges case 2: the case row and its transition in one transaction, as the lifecycle writes them.
        c2.state = .acknowledged
        c2.lastActionAt = at(10)
        c2.updatedAt = at(10)
        try acknowledge(c2, at: at(10))
    }

    /// Writes a transition to `acknowledged` and the updated case, as the case lifecycle does.
    func acknowledge(_ c: Case, at time: Date, by actor: String = "desk-1") throws {
        try store.writer.write { db in
            try DisputeStore.write(case: c, evidenceAt: nil, db: db)
            try db.execute(sql: """
                INSERT INTO case_transitions(case_id, at, actor, action, from_state, to_state, note) VALUES (?, ?, ?, 'acknowledge', 'new', 'acknowledged', 'on it')
                """, arguments: [c.id, time.timeIntervalSince1970, actor])
        }
    }
}
