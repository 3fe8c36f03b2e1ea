import Foundation

/// A foreign input that decoded to nothing because no rule maps it: an ONVIF
/// topic, a Frigate label, an onvif2mqtt event name. Not a dead letter (cameras
/// send many such housekeeping messages), but counted per (format, name) in the
/// store so an installer sees what the cameras send (`patrolhub adapters unmapped`).
public struct UnmappedInput: Sendable, Hashable {
    /// `onvif`, `frigate` or `onvif2mqtt`.
    public var format: String
    /// The ONVIF topic without namespace prefixes, the Frigate label, the onvif2mqtt event.
    public var name: String
    /// The foreign device or camera name that sent it (an example for the listing).
    public var device: String

    /// Longest name and device kept, in UTF-8 bytes: both come from the network.
    public static let maxNameBytes = 200
    /// See `maxNameBytes`.
    public static let maxDeviceBytes = 100

    /// Cut to the length limits (a longer name is cut and marked with "…").
    public init(format: String, name: String, device: String) {
        self.format = format
        self.name = name.utf8.count > Self.maxNameBytes ? DecodeLimits.truncated(name, maxBytes: Self.maxNameBytes) : name
        self.device = device.utf8.count > Self.maxDeviceBytes ? DecodeLimits.truncated(device, maxBytes: Self.maxDeviceBytes) : device
    }
}
