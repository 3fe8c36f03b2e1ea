import Foundation
import FuzzSupport
@testable import Alerts

// GB/T 28181 alarm notifications (MANSCDP XML in GB2312, GB18030 or UTF-8):
// through the hub's stage and through an adapter that accepts any DeviceID.

let anyDevice = GB28181Adapter()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let payload = Fuzz.bytes(start, count)
    let topic = "patrolhub/v1/gb28181/34020000001180000001/alarm"
    Fuzz.check(Fuzz.decode(topic: topic, payload), "gb28181")
    Fuzz.check(try? anyDevice.decode(topic: topic, payload: payload, receivedAt: Fuzz.now), "gb28181 (any device)")
    return 0
}
