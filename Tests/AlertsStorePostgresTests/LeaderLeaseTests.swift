import Alerts
import AlertsStorePostgres
import Foundation
import Logging
import Synchronization
import PostgresNIO
import PostgresTestSupport
import Testing

/// The leader lease on a real PostgreSQL: two hubs' leases on one key, one
/// leader at a time; the other takes over after a release, a closed
/// connection or a terminated backend (a killed hub); the terminated holder
/// notices at its next ping. No timing is asserted: waits poll with a
/// generous deadline only so that a failure cannot hang the run.
@Suite("Leader lease on PostgreSQL", .serialized)
struct LeaderLeaseTests {
    /// Two leases on one fresh database and key (each a hub's), and the URL for a third connection.
    static func twoLeases() async throws -> (a: LeaderLease, b: LeaderLease, url: String, password: String?) {
        let db = try await onDedicatedThread { try TestPostgres.freshDatabase("lease") }
        let key = Int64.random(in: 1...Int64.max)
        return (try LeaderLease(url: db.url, password: db.password, key: key), try LeaderLease(url: db.url, password: db.password, key: key),
                db.url, db.password)
    }

    /// Polls `condition` until true; fails (rather than hangs) after a minute.
    static func eventually(_ what: String, _ condition: () async throws -> Bool) async throws {
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline {
            if try await condition() { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        Issue.record("not within 60 s: \(what)")
    }

    /// Runs one statement on a connection of its own (the operator's, a third party).
    static func onThirdConnection(_ url: String, _ password: String?, _ sql: String) async throws {
        let connection = try await PostgresConnection.connect(
            configuration: PostgresStoreURL(parsing: url).connectionConfiguration(password: password), id: 9, logger: Logger(label: "test.third"))
        defer { Task { try? await connection.close() } }
        try await connection.query(PostgresQuery(unsafeSQL: sql), logger: Logger(label: "test.third"))
    }

    @Test("Only one of two leases on a key acquires; the other takes over after a release")
    func oneLeaderThenRelease() async throws {
        let (a, b, _, _) = try await Self.twoLeases()
        #expect(try await a.tryAcquire())
        #expect(a.isLeader)
        #expect(try await b.tryAcquire() == false)
        #expect(!b.isLeader)
        // Trying again while leading keeps it (no second lock), and pings keep it.
        #expect(try await a.tryAcquire())
        #expect(await a.ping())
        #expect(try await b.tryAcquire() == false)

        await a.release()
        #expect(!a.isLeader)
        try await Self.eventually("b acquires after a's release") { try await b.tryAcquire() }
        #expect(b.isLeader)
        #expect(try await a.tryAcquire() == false)
        await a.close()
        await b.close()
    }

    @Test("A closed connection frees the lease for the other")
    func closedConnection() async throws {
        let (a, b, _, _) = try await Self.twoLeases()
        #expect(try await a.tryAcquire())
        #expect(try await b.tryAcquire() == false)
        await a.close()
        #expect(!a.isLeader)
        try await Self.eventually("b acquires after a's connection closed") { try await b.tryAcquire() }
        await b.close()
    }

    @Test("A terminated backend (a killed hub) frees the lease; its holder knows at its next ping")
    func terminatedBackend() async throws {
        let (a, b, url, password) = try await Self.twoLeases()
        #expect(try await a.tryAcquire())
        #expect(try await b.tryAcquire() == false)
        let pid = try #require(await a.backendPID)
        try await Self.onThirdConnection(url, password, "SELECT pg_terminate_backend(\(pid))")
        try await Self.eventually("b acquires after a's backend was terminated") { try await b.tryAcquire() }
        // a has not pinged since: it still believes it leads, until its next ping.
        #expect(await a.ping() == false)
        #expect(!a.isLeader)
        #expect(try await a.tryAcquire() == false) // reconnects, and b holds it
        await a.close()
        await b.close()
    }

    @Test("run(onGain:onLoss:) gains the lease, and on cancellation stops leader work before releasing")
    func runLoop() async throws {
        let (a, b, _, _) = try await Self.twoLeases()
        let events = Mutex<[String]>([])
        let task = Task {
            await a.run(onGain: { events.withLock { $0.append("gain") } }, onLoss: { events.withLock { $0.append("loss") } })
        }
        try await Self.eventually("a gains the lease") { events.withLock { $0 } == ["gain"] }
        #expect(a.isLeader)
        #expect(try await b.tryAcquire() == false)
        task.cancel()
        await task.value
        #expect(events.withLock { $0 } == ["gain", "loss"])
        #expect(!a.isLeader)
        try await Self.eventually("b acquires after a's run ended") { try await b.tryAcquire() }
        await b.close()
    }

    @Test("Settings whose ping would notice a loss after the server frees the lock are refused")
    func settingsRefused() throws {
        var s = LeaderLease.Settings()
        #expect(s.takeoverBound == .seconds(13))
        s.pingTimeout = .seconds(10)
        #expect(throws: HubError.self) { try LeaderLease(url: "postgres://u@127.0.0.1:5432/db", password: nil, settings: s) }
    }
}
