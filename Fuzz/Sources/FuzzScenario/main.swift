import Foundation
import FuzzSupport
@testable import Alerts
@testable import Simulation

// A simulator scenario file, read as `ScenarioParser.load` reads it (UTF-8
// text or an error).

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    guard let text = String(data: Data(bytes: start, count: count), encoding: .utf8) else { return 0 }
    _ = try? ScenarioParser.parse(yaml: text, file: "fuzz.yaml")
    return 0
}
