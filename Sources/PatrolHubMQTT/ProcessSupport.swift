import CMosquitto

/// Process helpers from the C shim beside libmosquitto's header (`Sources/CMosquitto/shim.h`),
/// so that no other target imports `CMosquitto`.
package enum ProcessSupport {
    /// Line-buffers standard output, so printed lines and log lines (stderr)
    /// keep their order when both are piped.
    package static func lineBufferStandardOutput() { patrolhub_line_buffer_stdout() }

    /// Names the calling thread as the system shows it (`top -H`, `ps -L`, `perf`);
    /// Linux keeps the first 15 bytes.
    package static func nameCurrentThread(_ name: String) { patrolhub_name_current_thread(name) }

    /// The C heap as glibc's malloc sees it: bytes handed out and not freed, and
    /// bytes held from the system; nil where mallinfo2 is not available.
    package static func heap() -> (inUse: Int, held: Int)? {
        var inUse = 0
        var held = 0
        guard patrolhub_heap(&inUse, &held) != 0 else { return nil }
        return (inUse, held)
    }
}
