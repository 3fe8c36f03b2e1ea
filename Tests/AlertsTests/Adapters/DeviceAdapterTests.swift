import Foundation
import Testing

@testable import Alerts

@Suite("Patrol device adapter")
struct DeviceAdapterTests {
    private let prefix = "patrolhub/v1/device/pda-0417/"

    @Test("a report keeps its parties, amount and photos")
    func reportExtras() throws {
        let report = try DeviceAdapter().decodeReport(
            topic: prefix + "report", payload: AdapterFixtures.bytes("device-report-wage.json"),
            receivedAt: AdapterFixtures.receivedAt)
        #expect(report.parties == ["某建筑劳务公司", "务工人员代表 张某"])
        #expect(report.amountCNY == 386_000)
        #expect(report.photoURLs == ["https://oss.example.cn/p/rp-88-1.jpg"])
        #expect(report.event.category == .wageArrears)
        #expect(report.event.category.isDisputeCategory)

        let minimal = try DeviceAdapter().decodeReport(
            topic: prefix + "report", payload: AdapterFixtures.bytes("device-report-drill.json"), receivedAt: .now)
        #expect(minimal.parties.isEmpty && minimal.photoURLs.isEmpty && minimal.amountCNY == nil)
        #expect(minimal.event.drill)
    }

    @Test("decodeReport refuses a non-report topic")
    func reportTopicOnly() throws {
        let payload = try AdapterFixtures.bytes("device-sos-fall.json")
        #expect(throws: HubError.decode(.unknownTopic, "\(prefix)sos is not a device report topic")) {
            try DeviceAdapter().decodeReport(topic: prefix + "sos", payload: payload, receivedAt: .now)
        }
    }

    @Test("devices resolve through the resolver; unknown devices are dead-lettered")
    func resolver() throws {
        let payload = try AdapterFixtures.bytes("device-checkin.json")
        let mapped = DeviceAdapter(resolver: .table(["pda-0417": "W-0417"]))
        let events = try mapped.decode(topic: prefix + "checkin", payload: payload, receivedAt: .now)
        #expect(events.map(\.source) == ["W-0417"])
        #expect(events.map(\.key) == ["device:W-0417:checkin:ck-20240102-0031"])
        #expect(events.map(\.kind) == [.checkin(checkpoint: "CP-BKJ-07", method: "nfc")])

        let strict = DeviceAdapter(resolver: .table([:]))
        #expect(throws: HubError.decode(.unknownSource, "device \"pda-0417\" is not registered")) {
            try strict.decode(topic: prefix + "checkin", payload: payload, receivedAt: .now)
        }
    }

    @Test("a payload problem is reported before an unknown source")
    func validationFirst() throws {
        let strict = DeviceAdapter(resolver: .table([:]))
        let payload = try AdapterFixtures.bytes("device-bad-missing-id.json")
        #expect(throws: HubError.decode(.missingField, "field 'id' is required")) {
            try strict.decode(topic: prefix + "checkin", payload: payload, receivedAt: .now)
        }
    }

    @Test("topic prefix and time zone are configurable")
    func options() throws {
        let adapter = DeviceAdapter(
            options: AdapterOptions(topicPrefix: "city/v2", timeZone: TimeZone(secondsFromGMT: 6 * 3600)!))
        let events = try adapter.decode(
            topic: "city/v2/device/pda-0417/checkin", payload: AdapterFixtures.bytes("device-checkin-minimal.json"),
            receivedAt: .now)
        #expect(events.first?.time == AdapterFixtures.utc("2024-01-02T03:45:00Z"))
        #expect(throws: HubError.self) {
            try adapter.decode(
                topic: "patrolhub/v1/device/pda-0417/checkin",
                payload: AdapterFixtures.bytes("device-checkin-minimal.json"), receivedAt: .now)
        }
    }
}
