import Foundation
import FuzzSupport
@testable import Alerts

// The native camera topics: the bytes as an event (fast path and general
// path) and as a status. The fast path promises to return exactly what the
// general path returns whenever it returns anything: checked here.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let payload = Fuzz.bytes(start, count)
    Fuzz.check(Fuzz.decode(topic: "patrolhub/v1/camera/cam-1/event", payload), "camera event")
    Fuzz.check(Fuzz.decode(topic: "patrolhub/v1/camera/cam-1/status", payload), "camera status")

    let decoder = Fuzz.stage.camera
    if let fast = decoder.fastEvent(camera: "cam-1", payload: payload) {
        do {
            let general = try decoder.generalEvent(camera: "cam-1", payload: payload)
            Fuzz.expect(fast == general, "fast path \(fast) != general path \(general)")
        } catch {
            Fuzz.expect(false, "fast path accepted what the general path refuses: \(error)")
        }
    }
    return 0
}
