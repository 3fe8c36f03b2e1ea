import Foundation

// The topic names the publisher (the broker's ACL lets an account publish only
// under its own id); a payload that names another source in its own id
// fields contradicts it, and is dead-lettered as `id_mismatch` rather than
// believed or silently ignored.

extension PayloadFields {
    /// Refuses a payload whose `keys` (e.g. `device_id`, `device`) hold a string
    /// other than `topicID`. Absent fields and non-string values (an object named
    /// `device` describing the hardware) are not ids and pass.
    func requireOwnID(_ keys: [String], topicID: String, kind: String) throws(HubError) {
        for key in keys {
            guard let text = present(key)?.stringValue else { continue }
            let claimed = try DecodeText.checked(text, field: name(key))
            guard claimed != topicID else { continue }
            throw HubError.decode(.idMismatch, "field '\(key)' names \(kind) \"\(claimed.prefix(100))\" but the topic is \(kind) \"\(topicID.prefix(100))\": a \(kind) publishes only its own events")
        }
    }
}

/// GB/T 28181 ids (20 digits) whose type code (digits 11–13) is a device that
/// forwards its channels' alarms — DVR, NVR, encoder and the like (111–130) —
/// or a platform or gateway (200–299); their alarms carry the channel's
/// `DeviceID`, which legitimately differs from the id in the topic.
enum GBIdentifier {
    static func isForwarder(_ id: String) -> Bool {
        let u = Array(id.utf8)
        guard u.count == 20, u.allSatisfy({ $0 >= 48 && $0 <= 57 }) else { return false }
        let type = Int(u[10] - 48) * 100 + Int(u[11] - 48) * 10 + Int(u[12] - 48)
        return (111...130).contains(type) || (200...299).contains(type)
    }
}
