import Alerts
import Foundation

/// What one batch took from the inbox, for the hub's metrics: messages by
/// input kind, and when each was received (its publish → stored latency is
/// measured against the batch's commit). Filled once per batch, outside the
/// decode loop.
public struct BatchInputs: Sendable, Equatable {
    /// Messages per `InputKind`, indexed by its raw value.
    public var byKind: [Int]
    /// Receive times (Unix seconds) of the batch's messages, in inbox order.
    public var receivedAt: [Double]

    /// No message yet, a zero per input kind.
    public init() {
        byKind = Array(repeating: 0, count: InputKind.allCases.count)
        receivedAt = []
    }

    /// The tally of `records`, classified by `router`.
    public init(_ records: [InboxRecord], router: TopicRouter) {
        self.init()
        receivedAt.reserveCapacity(records.count)
        for r in records {
            byKind[router.inputKind(of: r.topic).rawValue] += 1
            receivedAt.append(r.receivedAt.timeIntervalSince1970)
        }
    }
}
