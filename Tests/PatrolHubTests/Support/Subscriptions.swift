import Foundation
@testable import PatrolHub
@testable import PatrolHubMQTT

/// A subscription is active after the broker's SUBACK, which comes some time
/// after the CONNACK that `MQTTClient.isConnected` reports: a message
/// published in between is not delivered. A test that must see every message
/// on its topics first publishes probes on `probeTopic` (a topic the
/// subscription matches) until `probeSeen` says one came back, resending every
/// half second; it throws after `timeout` seconds.
func waitSubscribed(_ what: String, publisher: TestPublisher, probeTopic: String, timeout: Double = 20,
                    probeSeen: () -> Bool) async throws {
    try await publisher.waitConnected()
    let deadline = Date().addingTimeInterval(timeout)
    repeat {
        _ = try publisher.client.enqueue(topic: probeTopic, payload: Array(#"{"probe":true}"#.utf8))
        let resend = Date().addingTimeInterval(0.5)
        while Date() < resend {
            if probeSeen() { return }
            try await Task.sleep(for: .milliseconds(20))
        }
    } while Date() < deadline
    throw TestFailure("timed out after \(timeout) s waiting for \(what) to receive a probe on \(probeTopic)")
}
