import Foundation
import Testing
import Alerts
import AlertsStore
@testable import PatrolHub
@testable import PatrolHubMQTT
@testable import PatrolHubRuntime

/// `broker.shared_group` against the real mosquitto 2.x of the machine: the
/// broker hands each message to one member of the group, with its real topic,
/// and keeps an absent member's turn for it (docs/POSTGRES.md, "Shared subscriptions").
@Suite("MQTT shared subscriptions (broker.shared_group)", .serialized)
struct SharedSubscriptionTests {
    /// A hub's inbox, oldest first: topic and payload as text.
    static func inbox(_ hub: TestHub) throws -> [(topic: String, payload: String)] {
        var out: [(topic: String, payload: String)] = []
        var seq: Int64 = 1
        while let r = try hub.store.inboxRecord(seq: seq) {
            out.append((r.topic, String(decoding: r.payload, as: UTF8.self)))
            seq += 1
        }
        return out
    }

    static let probe = #"{"probe":true}"#

    @Test("Two hubs in one group: each message is stored by exactly one hub, all of them together, on the topic it was published on")
    func groupSplitsMessagesBetweenHubs() async throws {
        let broker = try TestBroker()
        defer { broker.stop() }
        let dirA = TempDir(), dirB = TempDir()
        defer { dirA.cleanup(); dirB.cleanup() }
        let pub = try TestPublisher(port: broker.port)
        defer { pub.stop() }
        // Hub a ran ungrouped before: its persistent session still holds the plain filters, which it must drop on
        // joining the group (else it would keep receiving every message besides its turns).
        let alone = try TestHub(brokerPort: broker.port, dir: dirA, clientID: "hub-a")
        do {
            try await alone.waitConnected()
            try await waitSubscribed("hub a, ungrouped", publisher: pub, probeTopic: "onvif2mqtt/probe/state") {
                ((try? Self.inbox(alone)) ?? []).contains { $0.payload == Self.probe }
            }
        } catch {
            try? await alone.stop()
            throw error
        }
        try await alone.stop()
        let a = try TestHub(brokerPort: broker.port, dir: dirA, clientID: "hub-a") { $0.broker.sharedGroup = "city" }
        let b: TestHub
        do { b = try TestHub(brokerPort: broker.port, dir: dirB, clientID: "hub-b") { $0.broker.sharedGroup = "city" } } catch {
            try? await a.stop()
            throw error
        }
        do {
            #expect(a.hub.ingest.client.options.subscriptions.allSatisfy { $0.hasPrefix("$share/city/") })
            #expect(a.hub.ingest.client.options.subscriptions.count == TopicRouter().subscriptions.count)
            try await a.waitConnected()
            try await b.waitConnected()
            // The last filter the hub subscribes (`onvif2mqtt/+/+`): once a probe on it reaches a hub, all its subscriptions are active.
            let probesBefore = try Self.inbox(a).filter { $0.payload == Self.probe }.count
            try await waitSubscribed("both hubs", publisher: pub, probeTopic: "onvif2mqtt/probe/state") {
                ((try? Self.inbox(a)) ?? []).filter { $0.payload == Self.probe }.count > probesBefore
                    && ((try? Self.inbox(b)) ?? []).contains { $0.payload == Self.probe }
            }

            // One topic per kind of filter: exact, single-level wildcard, multi-level wildcard.
            let topics = [eventTopic("cam-001"), eventTopic("cam-002"), "frigate/events", "patrolhub/v1/device/dev-1/checkin",
                          "patrolhub/v1/onvif/cam-003/motion", "onvif2mqtt/cam-003/motion"]
            let n = 120
            let messages = (0..<n).map { (topics[$0 % topics.count], #"{"share":"s-\#($0)"}"#) }
            try await pub.publishAll(messages.map { ($0.0, Array($0.1.utf8)) })
            func shares() throws -> (a: [(topic: String, payload: String)], b: [(topic: String, payload: String)]) {
                (try Self.inbox(a).filter { $0.payload != Self.probe }, try Self.inbox(b).filter { $0.payload != Self.probe })
            }
            try await waitUntil("all \(n) messages stored by one hub or the other", timeout: 30) {
                let (x, y) = try shares()
                return Set((x + y).map(\.payload)).count == n
            }
            try await Task.sleep(for: .milliseconds(200)) // a message given to both would come now
            let (x, y) = try shares()
            #expect(x.count + y.count == n, "each message exactly once: \(x.count) + \(y.count)")
            #expect(Set(x.map(\.payload)).isDisjoint(with: y.map(\.payload)))
            #expect(Set((x + y).map(\.payload)) == Set(messages.map(\.1)))
            #expect(!x.isEmpty && !y.isEmpty, "the broker spreads the messages: \(x.count) and \(y.count)")
            let published = Dictionary(uniqueKeysWithValues: messages.map { ($0.1, $0.0) })
            for m in x + y { #expect(m.topic == published[m.payload], "stored on the published topic, not $share/…: \(m.topic)") }
        } catch {
            try? await a.stop()
            try? await b.stop()
            throw error
        }
        try await a.stop()
        try await b.stop()
    }

    /// A hub that leaves its group (here: renames it) must stop being a member of the old one:
    /// the inbox file remembers the filters it subscribed, and the `$share/old/…` ones its
    /// persistent session still holds are unsubscribed on connect. Else the old group's other
    /// member would lose a share of the messages to it for good.
    @Test("Leaving a group: the old $share filters are unsubscribed on connect, the old group's other member gets every message")
    func leavingAGroupUnsubscribesTheOldShare() async throws {
        let broker = try TestBroker()
        defer { broker.stop() }
        let dirA = TempDir(), dirB = TempDir()
        defer { dirA.cleanup(); dirB.cleanup() }
        let pub = try TestPublisher(port: broker.port)
        defer { pub.stop() }
        let before = try TestHub(brokerPort: broker.port, dir: dirA, clientID: "hub-a") { $0.broker.sharedGroup = "old" }
        do {
            #expect(before.hub.ingest.client.options.unsubscriptions == TopicRouter().subscriptions, "only the plain filters")
            try await before.waitConnected()
            try await waitSubscribed("hub a in group old", publisher: pub, probeTopic: "onvif2mqtt/probe/state") {
                ((try? Self.inbox(before)) ?? []).contains { $0.payload == Self.probe }
            }
        } catch {
            try? await before.stop()
            throw error
        }
        try await before.stop()
        let a = try TestHub(brokerPort: broker.port, dir: dirA, clientID: "hub-a") { $0.broker.sharedGroup = "new" }
        let b: TestHub
        do { b = try TestHub(brokerPort: broker.port, dir: dirB, clientID: "hub-b") { $0.broker.sharedGroup = "old" } } catch {
            try? await a.stop()
            throw error
        }
        do {
            let old = TopicRouter().subscriptions.map { "$share/old/\($0)" }
            #expect(Set(a.hub.ingest.client.options.unsubscriptions).isSuperset(of: old))
            #expect(!a.hub.ingest.client.options.unsubscriptions.contains { $0.hasPrefix("$share/new/") })
            try await a.waitConnected()
            try await b.waitConnected()
            let probesBefore = try Self.inbox(a).filter { $0.payload == Self.probe }.count
            try await waitSubscribed("both hubs", publisher: pub, probeTopic: "onvif2mqtt/probe/state") {
                ((try? Self.inbox(a)) ?? []).filter { $0.payload == Self.probe }.count > probesBefore
                    && ((try? Self.inbox(b)) ?? []).contains { $0.payload == Self.probe }
            }
            // Each hub is now alone in its group: each stores every message, once.
            let n = 40
            let messages = (0..<n).map { #"{"leave":"l-\#($0)"}"# }
            try await pub.publishAll(messages.map { (eventTopic("cam-001"), Array($0.utf8)) })
            func stored(_ hub: TestHub) throws -> [String] { try Self.inbox(hub).map(\.payload).filter { $0.hasPrefix(#"{"leave""#) } }
            try await waitUntil("every message stored by both hubs", timeout: 30) {
                let (x, y) = (try stored(a), try stored(b))
                return Set(x).count == n && Set(y).count == n
            }
            try await Task.sleep(for: .milliseconds(200)) // a copy through the old membership would come now
            #expect(try stored(a).count == n, "hub a got each message once, not also through group old")
            #expect(try stored(b).count == n)
        } catch {
            try? await a.stop()
            try? await b.stop()
            throw error
        }
        try await a.stop()
        try await b.stop()
    }

    /// mosquitto 2.0 picks the member in turn whether or not it is connected: a
    /// member with a persistent session that is away keeps its turns (queued in
    /// its session), and what was in flight to it when it died (no PUBACK) stays
    /// in flight to it. Nothing of either goes to the member still connected;
    /// all of it comes when the member returns under the same client id.
    @Test("A member killed with messages in flight: they and its later share wait in its session, none goes to the other member")
    func killedMemberKeepsItsShare() async throws {
        let broker = try TestBroker()
        defer { broker.stop() }
        let filter = "$share/city/t/#"
        let pub = try TestPublisher(port: broker.port)
        defer { pub.stop() }

        /// A member that commits everything it receives (as the hub's ingest does).
        func member(_ id: String, into box: LockedBox<[(topic: String, payload: String)]>) throws -> (MQTTClient, Task<Void, Never>) {
            let client = MQTTClient(options: MQTTClientTests.options(port: broker.port, id: "unused", subscriptions: [filter], cleanSession: false)
                                        .with(clientID: id), logger: testLogger, delivery: .batches)
            try client.start()
            let consumer = Task {
                for await batch in client.batches {
                    box.withLock { $0.append(contentsOf: batch.messages.map { ($0.topic, String(decoding: $0.payload, as: UTF8.self)) }) }
                    batch.acknowledge()
                }
            }
            return (client, consumer)
        }
        let other = LockedBox<[(topic: String, payload: String)]>([])
        let (o, oConsumer) = try member("member-o", into: other)

        // The member that dies: a bare client that never acknowledges, its socket shut down without a DISCONNECT.
        let doomedID = "member-k"
        let raw = try RawMQTT(port: broker.port)
        raw.acknowledges = false
        #expect(try raw.connect(clientID: doomedID, cleanSession: false) == 0)
        #expect(try raw.subscribe([filter]) == [1])
        let doomed = LockedBox<[(topic: String, payload: String)]>([])
        let readerDone = LockedBox(false)
        let reader = UncheckedBox(raw)
        Thread.detachNewThread {
            reader.value.readPublishes { topic, payload in doomed.withLock { $0.append((topic, String(decoding: payload, as: UTF8.self))) } }
            readerDone.withLock { $0 = true }
        }
        defer { raw.kill() }

        do {
            try await waitUntil("member o connected") { o.isConnected }
            try await waitSubscribed("member o", publisher: pub, probeTopic: "t/probe") { other.withLock { $0.contains { $0.payload == Self.probe } } }
            func phase(_ box: LockedBox<[(topic: String, payload: String)]>, _ tag: String) -> [(topic: String, payload: String)] {
                box.withLock { $0.filter { $0.payload.hasPrefix(tag) } }
            }
            let m = 40
            func batch(_ tag: String) -> [(String, String)] { (0..<m).map { ("t/\(tag)/\($0 % 4)", "\(tag)-\($0)") } }

            // Both members up: each message to one of them.
            let before = batch("before")
            try await pub.publishAll(before.map { ($0.0, Array($0.1.utf8)) })
            try await waitUntil("the \(m) first messages received by one member or the other", timeout: 30) {
                phase(other, "before").count + phase(doomed, "before").count == m
            }
            let inFlight = Set(phase(doomed, "before").map(\.payload))
            #expect(!inFlight.isEmpty, "the dying member had its share in flight")
            #expect(inFlight.isDisjoint(with: phase(other, "before").map(\.payload)))

            // Killed: no DISCONNECT, no PUBACK. Then the second half is published while it is away.
            raw.kill()
            try await waitUntil("the killed member's reader ended") { readerDone.withLock { $0 } }
            let after = batch("after")
            try await pub.publishAll(after.map { ($0.0, Array($0.1.utf8)) })
            try await waitUntil("the connected member received its share", timeout: 30) { !phase(other, "after").isEmpty }

            // The member returns under its client id: its in-flight messages come again, and its queued turns.
            let returned = LockedBox<[(topic: String, payload: String)]>([])
            let (r, rConsumer) = try member(doomedID, into: returned)
            try await waitUntil("every message received once the member is back", timeout: 30) {
                Set(phase(returned, "before").map(\.payload)) == inFlight
                    && Set((phase(other, "after") + phase(returned, "after")).map(\.payload)).count == m
            }
            try await Task.sleep(for: .milliseconds(200)) // a message given to both would come now
            let otherAfter = phase(other, "after"), returnedAfter = phase(returned, "after")
            #expect(otherAfter.count + returnedAfter.count == m, "each message once: \(otherAfter.count) + \(returnedAfter.count)")
            #expect(!returnedAfter.isEmpty, "the absent member's turns were queued for it, not given to the other")
            #expect(otherAfter.count < m)
            #expect(Set(otherAfter.map(\.payload)).isDisjoint(with: returnedAfter.map(\.payload)))
            #expect(Set(phase(other, "before").map(\.payload)).isDisjoint(with: inFlight), "in-flight messages never went to the other member")
            let published = Dictionary(uniqueKeysWithValues: (before + after).map { ($0.1, $0.0) })
            for x in other.withLock({ $0 }) + returned.withLock({ $0 }) + doomed.withLock({ $0 }) where x.payload != Self.probe {
                #expect(x.topic == published[x.payload], "received on the published topic: \(x.topic)")
            }
            await r.shutdown()
            await rConsumer.value
        } catch {
            await o.shutdown()
            await oConsumer.value
            throw error
        }
        await o.shutdown()
        await oConsumer.value
    }
}

/// Hands a non-`Sendable` test helper to the one thread that uses it.
private final class UncheckedBox<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}

private extension MQTTClient.Options {
    /// These options with client id `id`.
    func with(clientID id: String) -> Self {
        var o = self
        o.clientID = id
        return o
    }
}
