import Foundation
import FuzzSupport
@testable import Alerts

// ONVIF events bridged to MQTT. The ONVIF topic matters (it selects the
// rule), so the input is `ONVIF-TOPIC\nPAYLOAD`; without a newline the whole
// input is the payload of a cell-motion event.

let anyCamera = ONVIFAdapter()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let input = Fuzz.bytes(start, count)
    var onvifTopic = "tns1:RuleEngine/CellMotionDetector/Motion"
    var payload = input
    if let nl = input.firstIndex(of: 0x0A), nl <= 200 {
        onvifTopic = String(decoding: input[..<nl], as: UTF8.self)
        payload = Array(input[(nl + 1)...])
    }
    let topic = "patrolhub/v1/onvif/cam-market-01/" + onvifTopic
    Fuzz.check(Fuzz.decode(topic: topic, payload), "onvif")
    Fuzz.check(try? anyCamera.decode(topic: topic, payload: payload, receivedAt: Fuzz.now), "onvif (any camera)")
    return 0
}
