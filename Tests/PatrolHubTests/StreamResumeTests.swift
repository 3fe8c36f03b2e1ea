import Alerts
import Foundation
import GRDB
import Testing
@testable import PatrolHub
@testable import PatrolHubHTTP

/// A stream client that comes back after the change log was pruned past its
/// `Last-Event-ID` is told which changes it can no longer get (`ready`'s
/// `missed`), and gets every change still kept.
@Suite("HTTP stream resume across the retained window", .serialized)
struct StreamResumeTests {
    func seqs(_ sse: TestSSEClient) -> [Int64] { sse.events.filter { $0.event != "ready" }.compactMap(\.id).compactMap(Int64.init) }

    @Test("resuming from before the oldest kept change: ready names the pruned range, the kept changes follow; from inside the window: nothing missed")
    func resumeFromBeforeTheWindow() async throws {
        try await DispatchFixture.run { f in
            let kept: Int64 = 3
            let (_, latest) = try f.store.changeLogBounds()
            #expect(latest > kept + 2, "the fixture logs more changes than the test keeps")
            try f.store.pruneChanges(olderThan: .distantPast, keepingNewest: kept)
            let (oldest, after) = try f.store.changeLogBounds()
            #expect(after == latest)
            #expect(oldest == latest - kept + 1)
            let keptSeqs = try await f.store.writer.read { db in try Int64.fetchAll(db, sql: "SELECT seq FROM changes ORDER BY seq") }
            #expect(keptSeqs == Array((latest - kept + 1)...latest))

            // From seq 1: seqs 2 … latest − kept are gone.
            let stale = try TestSSEClient(port: f.port, headers: ["Last-Event-ID": "1"])
            defer { stale.close() }
            let ready = try await stale.waitFor("ready") { $0.event == "ready" }
            #expect(ready.json == .object(["after": .number(Double(latest - kept)),
                                           "missed": .object(["from": .number(2), "through": .number(Double(latest - kept))])]), "\(ready.data)")
            try await waitUntil("the kept changes") { seqs(stale).count >= kept }
            #expect(seqs(stale) == keptSeqs)

            // From the change just before the oldest kept: nothing missed, the same changes.
            let fresh = try TestSSEClient(port: f.port, headers: ["Last-Event-ID": "\(latest - kept)"])
            defer { fresh.close() }
            let freshReady = try await fresh.waitFor("ready") { $0.event == "ready" }
            #expect(freshReady.json == .object(["after": .number(Double(latest - kept))]), "\(freshReady.data)")
            try await waitUntil("the kept changes") { seqs(fresh).count >= kept }
            #expect(seqs(fresh) == keptSeqs)
        }
    }

    @Test("the whole log pruned: a resuming client is told everything after its id was missed; the next change still gets a new seq and reaches it")
    func resumeAfterTheWholeLogWasPruned() async throws {
        try await DispatchFixture.run { f in
            let latest = try f.store.latestChangeSeq()
            try f.store.pruneChanges(olderThan: .distantFuture)
            let bounds = try f.store.changeLogBounds()
            #expect(bounds.oldest == nil, "the log is empty…")
            #expect(bounds.latest == latest, "…its sequence is not")

            let back = try TestSSEClient(port: f.port, headers: ["Last-Event-ID": "\(latest - 2)"])
            defer { back.close() }
            let ready = try await back.waitFor("ready") { $0.event == "ready" }
            #expect(ready.json == .object(["after": .number(Double(latest)),
                                           "missed": .object(["from": .number(Double(latest - 1)), "through": .number(Double(latest))])]), "\(ready.data)")
            let new = try TestSSEClient(port: f.port)
            defer { new.close() }
            let newReady = try await new.waitFor("ready") { $0.event == "ready" }
            #expect(newReady.json == .object(["after": .number(Double(latest))]), "a new client starts after the newest seq ever given")
            try await waitUntil("the feed counts both clients") { f.hub.hub.http!.feed.clientCount == 2 }

            try await f.pub.publishAll([(eventTopic(f.cameraB), cameraEvent("after-prune", type: "fight", time: f.at(12)))])
            for client in [back, new] {
                let item = try await client.waitFor("the new risk item") { $0.event == "risk_item" && $0.json["object"]?["category"] == .string("fight") }
                #expect(Int64(item.id ?? "") ?? 0 > latest, "a seq never given before")
            }
        }
    }
}
