import Foundation
import FuzzSupport
@testable import Alerts

// Frigate's `frigate/events` messages: through the hub's stage (registered
// cameras only) and through an adapter that accepts any camera name, so that
// mutated names still reach the mapping.

let anyCamera = FrigateAdapter()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let payload = Fuzz.bytes(start, count)
    Fuzz.check(Fuzz.decode(topic: "frigate/events", payload), "frigate")
    Fuzz.check(try? anyCamera.decode(topic: "frigate/events", payload: payload, receivedAt: Fuzz.now), "frigate (any camera)")
    return 0
}
