@testable import AlertsStore
import Foundation
import GRDB
import Testing
@testable import Alerts

#if canImport(Glibc)
import Glibc
#endif

/// Bounded storage of bad input: oversized payloads, string lengths, file modes.
@Suite("Bad input storage", .serialized)
struct BadInputStorageTests {
    @Test func sha256MatchesKnownDigests() {
        let vectors: [(Int, String)] = [
            (0, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
            (3, "ce562c676ea7aba9812f54db146b0096011bf3e423edfb0a6f8fb2b02674a801"),
            (55, "16fa57a0a3423a715d594516339f36189d6b5f93754a9714fef202616a9fabfe"),
            (56, "c37b44e5f1b18554b36966f4f8e08bfbf3164c4b6c10374d12d89850892073c5"),
            (63, "bbba992d2c85af960fb2987a1fd05e0aa82a3db3c740dd8982a9e273b75e36a3"),
            (64, "66bd4633ed6f71c4ecfa4763bf7ba1c8ec7612de9aa6c0578a7b675207c71e0b"),
            (65, "9f7dc47107b750a1f3d35db5d9547f24ef40da5b731b9540d4f43710a154f6c9"),
            (1000, "095ecb62e30793ab4b954cd6a0586d0cc91f7ea5b1332694d8da780e98676d78"),
        ]
        for (n, hex) in vectors {
            #expect(SHA256.hex((0..<n).map { UInt8(($0 * 7 + 1) % 256) }) == hex, "\(n) bytes")
        }
        #expect(SHA256.hex(Array("abc".utf8)) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(SHA256.hex([UInt8](repeating: 0x61, count: 1_000_000)) == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    static let now = Date(timeIntervalSince1970: 1_800_000_000)

    static func processor(_ store: DisputeStore, maxPayloadBytes: Int = 1000) throws -> PipelineProcessor {
        let registry = Registry(cameras: [CameraRecord(id: "cam-1", name: "A", location: nil, zone: "Z-A")],
                                devices: [DeviceRecord(id: "dev-1", worker: "W", unit: "U", zone: "Z-A")])
        let decode = DecodeStage(router: TopicRouter(), registry: registry, timeParser: TimeParser(), maxPayloadBytes: maxPayloadBytes)
        let engine = RiskEngine(rules: RuleSet()) { e in Placement(zone: registry.cameras[e.source]?.zone ?? "Z-A") }
        return try PipelineProcessor(store: store, decode: decode, engine: engine, outputPrefix: "patrolhub/v1", clock: { now })
    }

    @Test func anOversizedPayloadIsStoredAsItsHeadSizeAndHash() throws {
        let store = try DisputeStore.inMemory()
        let big = [UInt8](repeating: UInt8(ascii: "x"), count: 100_000)
        let topic = "patrolhub/v1/camera/cam-1/event"
        let m = InboxMessage(topic: topic, payload: big, receivedAt: Self.now, maxPayloadBytes: 1000)
        #expect(m.payload == Array(big.prefix(4096)))
        #expect(m.oversized == InboxMessage.Oversized(size: 100_000, sha256: SHA256.hex(big)))
        #expect(m.key == InboxMessage(topic: topic, payload: big, receivedAt: Self.now).key, "the key is the whole payload's")
        let other = big.dropLast() + [UInt8(ascii: "y")]
        #expect(InboxMessage(topic: topic, payload: Array(other), receivedAt: Self.now, maxPayloadBytes: 1000).key != m.key,
                "a payload differing after its head is another message")
        let small = InboxMessage(topic: topic, payload: [1, 2, 3], receivedAt: Self.now, maxPayloadBytes: 1000)
        #expect(small.oversized == nil && small.payload == [1, 2, 3])

        // Stored, redelivered, processed: one dead letter with the head, the size and the hash.
        try store.ingest([m, m, small])
        let pending = try store.pending(limit: 10)
        #expect(pending.map(\.payload.count) == [4096, 4096, 3])
        #expect(pending[0].oversized == m.oversized)
        #expect(try store.inboxRecord(seq: pending[0].seq)?.oversized == m.oversized)
        let p = try Self.processor(store)
        try p.processPending(limit: 10)
        let rows = try store.writer.read { db in
            try Row.fetchAll(db, sql: "SELECT reason, detail, payload, size, payload_sha256 FROM dead_letters ORDER BY id")
        }
        #expect(rows.count == 2, "the redelivery is absorbed by the dead-letter key")
        #expect(rows[0]["reason"] as String == "oversized")
        #expect((rows[0]["payload"] as Data).count == 4096)
        #expect(rows[0]["size"] as Int == 100_000)
        #expect(rows[0]["payload_sha256"] as String? == SHA256.hex(big))
        #expect((rows[0]["detail"] as String).contains("100000 bytes"))
        #expect((rows[0]["detail"] as String).contains(SHA256.hex(big)))
        #expect(rows[1]["reason"] as String == "malformed")
        #expect(rows[1]["payload_sha256"] as String? == nil)
    }

    @Test func truncatedKeepsWholeCharacters() {
        #expect(DecodeLimits.truncated("abc", maxBytes: 3) == "abc")
        #expect(DecodeLimits.truncated("abcdefgh", maxBytes: 6) == "abc…")
        #expect(DecodeLimits.truncated("中文中文", maxBytes: 10) == "中文…") // 3 bytes each
        #expect(DecodeLimits.truncated("👨‍👩‍👧‍👦x", maxBytes: 8) == "…", "a grapheme is never split")
        #expect(DecodeLimits.truncated(String(repeating: "é", count: 5000), maxBytes: 1024).utf8.count <= 1024)
    }

    @Test func payloadStringsAreBounded() throws {
        let registry = Registry(cameras: [CameraRecord(id: "cam-1", name: "A", location: nil, zone: "Z-A")],
                                devices: [DeviceRecord(id: "dev-1", worker: "W", unit: "U", zone: "Z-A")])
        let stage = DecodeStage(router: TopicRouter(), registry: registry, timeParser: TimeParser())
        let now = Date()
        let long = String(repeating: "争", count: 20_000)
        // A report's description is cut, and the event kept.
        let report = #"{"id":"r-1","category":"dispute","time":"\#(now.rfc3339)","description":"\#(long)"}"#
        let events = try stage.decode(topic: "patrolhub/v1/device/dev-1/report", payload: Array(report.utf8), now: now)
        #expect(events.count == 1)
        #expect(events[0].description?.hasSuffix("…") == true)
        #expect((events[0].description?.utf8.count ?? 0) <= DecodeLimits.maxTextBytes)
        // GB/T 28181's AlarmDescription likewise.
        let xml = "<Notify><CmdType>Alarm</CmdType><SN>1</SN><DeviceID>cam-1</DeviceID><AlarmPriority>2</AlarmPriority><AlarmMethod>5</AlarmMethod><AlarmTime>2024-01-02T15:04:05</AlarmTime><AlarmDescription>\(long)</AlarmDescription></Notify>"
        var gb = stage
        gb.maxClockSkew = .infinity
        let alarm = try gb.decode(topic: "patrolhub/v1/gb28181/cam-1/alarm", payload: Array(xml.utf8), now: now)
        #expect((alarm.first?.description?.utf8.count ?? 0) <= DecodeLimits.maxTextBytes)
        // An id that makes the key longer than the limit is refused.
        let longID = String(repeating: "i", count: 5000)
        #expect {
            _ = try stage.decode(topic: "patrolhub/v1/camera/cam-1/event", payload: Array(#"{"id":"\#(longID)","type":"fight","time":"\#(now.rfc3339)"}"#.utf8), now: now)
        } throws: { e in
            (e as? HubError)?.reason == .outOfRange
        }
        // So is a check-in's checkpoint id of that length.
        #expect {
            _ = try stage.decode(topic: "patrolhub/v1/device/dev-1/checkin", payload: Array(#"{"id":"c1","checkpoint":"\#(longID)","time":"\#(now.rfc3339)"}"#.utf8), now: now)
        } throws: { e in
            (e as? HubError)?.reason == .outOfRange
        }
        // A detail quoting a long value is cut.
        #expect {
            _ = try stage.decode(topic: "patrolhub/v1/camera/cam-1/event", payload: Array(#"{"id":"a","type":"\#(long)","time":"\#(now.rfc3339)"}"#.utf8), now: now)
        } throws: { e in
            guard let e = e as? HubError else { return false }
            return e.detail.utf8.count <= DecodeLimits.maxDetailBytes
        }
    }

    /// NUL characters through the pipeline into SQLite: padding is dropped before the store sees
    /// the texts, any other NUL is an `invalid_value` dead letter with the raw bytes and a detail
    /// naming the field, and no stored text holds a NUL (PostgreSQL's `text` would refuse one).
    @Test func nulCharactersAreSettledBeforeTheStore() throws {
        let store = try DisputeStore.inMemory()
        let time = Self.now.rfc3339
        let padded = InboxMessage(topic: "patrolhub/v1/camera/cam-1/event",
                                  payload: Array(#"{"id":"e1\u0000\u0000","type":"fight","time":"\#(time)"}"#.utf8), receivedAt: Self.now)
        let interior = InboxMessage(topic: "patrolhub/v1/camera/cam-1/event",
                                    payload: Array(#"{"id":"e\u00002","type":"fight","time":"\#(time)"}"#.utf8), receivedAt: Self.now)
        let report = InboxMessage(topic: "patrolhub/v1/device/dev-1/report",
                                  payload: Array(#"{"id":"r1","category":"dispute","time":"\#(time)","description":"a\u0000b"}"#.utf8), receivedAt: Self.now)
        try store.ingest([padded, interior, report])
        let p = try Self.processor(store)
        try p.processPending(limit: 10)
        let keys = try store.writer.read { db in try String.fetchAll(db, sql: "SELECT key FROM events") }
        #expect(keys == ["camera:cam-1:e1"])
        let rows = try store.writer.read { db in
            try Row.fetchAll(db, sql: "SELECT reason, detail, payload FROM dead_letters ORDER BY id")
        }
        #expect(rows.map { $0["reason"] as String } == ["invalid_value", "invalid_value"])
        #expect(rows.map { $0["detail"] as String } == ["field 'id' holds a NUL character", "field 'description' holds a NUL character"])
        #expect(rows.map { [UInt8]($0["payload"] as Data) } == [interior.payload, report.payload], "the raw bytes are kept")
        let nuls = try store.writer.read { db in
            try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM risk_items WHERE instr(id || source || COALESCE(lifecycle, ''), char(0)) > 0") ?? -1
        }
        #expect(nuls == 0)
    }

    @Test func twoProcessesOpeningANewStoreAtOnceBothSucceed() async throws {
        let base = NSTemporaryDirectory() + "patrolhub-race-\(UUID().uuidString.prefix(8))"
        defer { try? FileManager.default.removeItem(atPath: base) }
        for round in 0..<30 {
            let path = base + "/\(round)/hub.sqlite"
            let openers = (0..<3).map { _ in Task.detached { try DisputeStore(path: path) } }
            for o in openers { _ = try await o.value }
        }
    }

    /// Mode of a path, or nil when it is missing.
    static func mode(_ path: String) -> mode_t? {
        var st = stat()
        return stat(path, &st) == 0 ? st.st_mode & 0o777 : nil
    }

    @Test func storeFilesArePrivateWhateverTheUmask() throws {
        let base = NSTemporaryDirectory() + "patrolhub-perm-\(UUID().uuidString.prefix(8))"
        defer { try? FileManager.default.removeItem(atPath: base) }
        let old = umask(0o022)
        defer { umask(old) }
        let folder = base + "/data"
        let path = folder + "/hub.sqlite"
        do {
            let store = try DisputeStore(path: path)
            try store.ingest([InboxMessage(topic: "t", payload: [1], receivedAt: Date())])
            try store.writer.write { db in try db.execute(sql: "UPDATE pipeline_cursor SET inbox_seq = 0") }
            #expect(Self.mode(folder) == 0o700)
            let files = FilePermissions.sqliteFiles(path).dropLast() + FilePermissions.sqliteFiles(DisputeStore.inboxPath(for: path)).dropLast()
            for f in files {
                #expect(Self.mode(f) == 0o600, "\(f)")
            }
        }
        // Files and a folder left wide open by an earlier version are narrowed at the next start.
        #expect(chmod(folder, 0o755) == 0)
        for f in try FileManager.default.contentsOfDirectory(atPath: folder) { #expect(chmod(folder + "/" + f, 0o644) == 0) }
        _ = try DisputeStore(path: path)
        #expect(Self.mode(folder) == 0o700)
        for f in try FileManager.default.contentsOfDirectory(atPath: folder) {
            #expect(Self.mode(folder + "/" + f) == 0o600, "\(f)")
        }
        // A shared folder with the sticky bit is left alone.
        let shared = base + "/shared"
        try FileManager.default.createDirectory(atPath: shared, withIntermediateDirectories: true)
        #expect(chmod(shared, 0o1777) == 0)
        try FilePermissions.secureFolder(shared)
        #expect(Self.mode(shared) == 0o777)
    }
}
