import AlertsStorePostgres
import Foundation
import PostgresTestSupport
import Testing
@testable import Alerts

/// A store whose connection the server ended (a restart, `pg_terminate_backend`)
/// must fail its calls, not wait for an answer that never comes: the hub then
/// stops and its service manager starts it again (docs/POSTGRES.md).
@Suite("PostgreSQL store: a lost connection")
struct ConnectionLossTests {
    @Test("after the server ends the store's session, the next calls fail with an error instead of waiting")
    func terminatedSessionFails() async throws {
        try await onDedicatedThread {
            let db = try TestPostgres.freshDatabase("lost")
            let store = try PostgresStore(url: db.url, password: db.password, inboxID: "inbox-lost")
            defer { store.close() }
            #expect(try store.cursor() == 0)
            #expect(try TestPostgres.terminateOtherSessions(url: db.url, password: db.password) >= 1)
            Thread.sleep(forTimeInterval: 0.5)
            #expect(throws: HubError.self) { try store.cursor() }
            #expect(throws: HubError.self) { try store.outbox(limit: 1) }
        }
    }
}
