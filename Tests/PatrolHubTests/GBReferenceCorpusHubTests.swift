import Alerts
import Foundation
import Testing
@testable import PatrolHub

/// The wvp-GB28181-pro payloads of `../shared/realworld/gb28181` (read in place,
/// never copied) published to a real broker and hub with the repository's
/// `config/rules.yaml`; skipped when the folder is absent.
@Suite("GB/T 28181 reference corpus through a real hub", .serialized, .enabled(if: GBHubCorpus.folder != nil))
struct GBReferenceCorpusHubTests {
    @Test("each real alarm has the outcome its README gives")
    func corpus() async throws {
        let folder = try #require(GBHubCorpus.folder)
        let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let dir = TempDir()
        defer { dir.cleanup() }
        let cameras = dir.write("gb-cameras.csv", """
            id,name,lat,lon,crs,zone
            34020000001320000001,wvp test channel,29.6531,91.1342,wgs84,Z-A
            55123456781381000010,wvp test device,29.6538,91.1318,wgs84,Z-A
            31010000001340000001,cascaded channel,29.6562,91.1335,wgs84,Z-A
            """)
        try await withLiveHub(configure: { c in
            c.camerasFile = cameras
            c.rulesFile = repo.appendingPathComponent("config/rules.yaml").path
        }) { _, hub, pub in
            // In event-time order, so that none is late; G03b and G04b repeat G03 and G04 with
            // CmdType added: the same DeviceID, AlarmTime and type, so the same key: nothing new.
            let files = ["G08-wvp-cascade-of-G07-alarmtype-null.xml", "G02-wvp-test-method7-no-cmdtype.xml",
                         "G03-wvp-test-method2-videoloss-notify-level-alarmtype.xml", "G03b-wvp-test-method2-videoloss-plus-cmdtype.xml",
                         "G04-wvp-test-method5-info-alarmtype-overrides.xml", "G04b-wvp-test-method5-info-alarmtype-plus-cmdtype.xml"]
            var messages: [(String, [UInt8])] = []
            for f in files {
                messages.append(("patrolhub/v1/gb28181/34020000002000000001/alarm", [UInt8](try Data(contentsOf: folder.appendingPathComponent(f)))))
            }
            try await pub.publishAll(messages)
            try await hub.waitProcessed(received: messages.count)
            try await waitUntil("slips published") { try hub.store.outbox(limit: 10).isEmpty }

            #expect(try hub.store.deadLetters().map(\.reason) == [], "no real alarm is a dead letter")
            let items = try hub.store.riskItems().sorted { $0.id < $1.id }
            #expect(items.map(\.source) == ["31010000001340000001", "55123456781381000010", "34020000001320000001", "34020000001320000001"])
            // G08: a device alarm with null type → other at priority 4; G02: other at priority 1 → severity 1;
            // G03: video loss → the camera's health item; G04: motion at priority 1 stays severity 4, muted by the video loss.
            #expect(items.map(\.category) == [.other, .other, .cameraOffline, .motion])
            #expect(items.map(\.severity) == [.info, .critical, .minor, .info])
            // G08's alarm time is 2017, years before the others: an item quiet for more than a day of
            // event time closes (docs/MEMORY.md), so the 2026 alarms close it.
            #expect(items.map(\.state) == [.closed, .open, .open, .open])
            #expect(items.map(\.suppressedBy) == [nil, nil, nil, "inhibited: camera 34020000001320000001 is signal_lost"])
            #expect(items.map(\.occurrences) == [1, 1, 1, 1])
            let slips = try hub.store.slips()
            #expect(slips.map(\.category) == [.other], "only the priority-1 'other' alarm raises a slip at once")
            #expect(slips.map(\.severity) == [.critical])
        }
    }
}

enum GBHubCorpus {
    /// `../shared/realworld/gb28181` beside the repository, nil when absent.
    static let folder: URL? = {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("shared/realworld/gb28181", isDirectory: true)
        return FileManager.default.fileExists(atPath: url.path) ? url : nil
    }()
}
