import Foundation
import FuzzSupport
@testable import Alerts

// A zone file (GeoJSON FeatureCollection): parsed by the hub's one JSON
// parser, read and validated, as `zones import` and hub start do, then indexed.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let data = Data(bytes: start, count: count)
    _ = try? JSONParser.parse([UInt8](data))
    _ = try? ZoneFile.load(data)
    return 0
}
