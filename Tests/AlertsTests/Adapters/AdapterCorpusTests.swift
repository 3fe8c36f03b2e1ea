import Foundation
import Testing

@testable import Alerts

/// Every payload in `Fixtures/adapters/corpus.json` decodes to exactly the
/// expected events, or dead-letters with exactly the expected reason.
@Suite("Adapter payload corpus")
struct AdapterCorpusTests {
    @Test("the corpus is loaded and covers every format")
    func corpusLoads() {
        let formats = Set(AdapterFixtures.corpus.map(\.format))
        #expect(AdapterFixtures.corpus.count >= 80)
        #expect(formats == ["frigate", "gb28181", "onvif", "device"])
    }

    @Test("fixture decodes as expected", arguments: AdapterFixtures.corpus)
    func fixture(_ entry: CorpusCase) throws {
        let payload = try AdapterFixtures.bytes(entry.payload)
        let outcome = AdapterFixtures.outcome { () throws(HubError) in
            try AdapterFixtures.decode(format: entry.format, topic: entry.topic, payload: payload)
        }
        if let reason = entry.error {
            guard case .failure(let error) = outcome else {
                Issue.record("expected dead letter \(reason), got \(outcome)")
                return
            }
            #expect(error.deadLetterReason.rawValue == reason, "\(error)")
            if let fragment = entry.errorContains {
                #expect(error.detail.contains(fragment), "detail \"\(error.detail)\" should name \(fragment)")
            }
            return
        }
        let events = try outcome.get()
        let expected = try #require(entry.events)
        try #require(events.count == expected.count, "got \(events)")
        for (event, want) in zip(events, expected) {
            check(event, want)
        }
    }

    private func check(_ event: NormalizedEvent, _ want: ExpectedEvent) {
        #expect(event.key == want.key)
        switch (event.kind, want.kind) {
        case (.detection, "detection"), (.end, "end"): break
        case (.cameraStatus(let status), "status"): #expect(status.rawValue == want.status)
        case (.checkin(let checkpoint, let method), "checkin"):
            #expect(checkpoint == want.checkpoint)
            #expect(method == want.method)
        default: Issue.record("kind \(event.kind), expected \(want.kind)")
        }
        #expect(event.sourceKind.rawValue == want.sourceKind)
        #expect(event.source == want.source)
        #expect(event.category.rawValue == want.category)
        #expect(event.severity.rawValue == want.severity)
        let expectedTime = want.epoch ?? want.time.flatMap(AdapterFixtures.utc)?.timeIntervalSince1970
        if let expectedTime {
            #expect(abs(event.time.timeIntervalSince1970 - expectedTime) < 1e-6, "time \(event.time)")
        } else {
            Issue.record("corpus entry has no valid time")
        }
        if let lat = want.lat, let lon = want.lon, let crs = want.crs {
            #expect(event.location == GeoPoint(lat: lat, lon: lon, crs: CoordinateSystem(rawValue: crs)!))
        } else {
            #expect(event.location == nil)
        }
        #expect(event.confidence == want.confidence)
        #expect(event.count == nil)
        #expect(event.drill == (want.drill ?? false))
        #expect(event.lifecycle == want.lifecycle)
        #expect(event.description == want.description)
        #expect(event.format == want.format)
        #expect(event.timeSource.rawValue == (want.timeSource ?? "device"))
        #expect(event.vendorPriority?.rawValue == want.vendorPriority)
    }
}
