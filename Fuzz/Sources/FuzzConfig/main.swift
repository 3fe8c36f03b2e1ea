import Foundation
import FuzzSupport
@testable import Alerts

// The hub's YAML config files, read as `HubConfig.load` and `RuleSet.load`
// read them (UTF-8 text or an error), then every key checked: the same bytes
// as `patrolhub.yaml` and as `rules.yaml`.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    guard let text = String(data: Data(bytes: start, count: count), encoding: .utf8) else { return 0 }
    let file = "/etc/patrolhub/fuzz.yaml"
    if let root = try? ConfigMap.parse(yaml: text, file: file) { _ = try? HubConfig.parse(root, file: file) }
    if let root = try? ConfigMap.parse(yaml: text, file: file) { _ = try? RuleSet.parse(root) }
    return 0
}
