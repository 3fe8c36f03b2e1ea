import Foundation
import FuzzSupport
@testable import Alerts

// The patrol-device topics: check-in, report (with its dispute fields) and SOS.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let payload = Fuzz.bytes(start, count)
    for kind in ["checkin", "report", "sos"] {
        Fuzz.check(Fuzz.decode(topic: "patrolhub/v1/device/pda-0417/\(kind)", payload), "device \(kind)")
    }
    _ = try? Fuzz.stage.device.decodeReport(topic: "patrolhub/v1/device/pda-0417/report", payload: payload, receivedAt: Fuzz.now)
    return 0
}
