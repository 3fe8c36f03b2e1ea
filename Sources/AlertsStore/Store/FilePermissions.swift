import Alerts
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// The store holds raw payloads with the names of dispute parties: its folder
/// is 0700 and its files 0600, set explicitly whatever the umask, and files
/// left with wider modes by earlier versions are narrowed at start.
public enum FilePermissions {
    /// Creates `path` as a 0700 folder (with its parents), or narrows an
    /// existing one to 0700. A folder that is not ours, or a shared one with
    /// the sticky bit (`/tmp`), is left alone.
    public static func secureFolder(_ path: String) throws {
        var st = stat()
        if stat(path, &st) != 0 {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            _ = chmod(path, 0o700) // createDirectory's mode is filtered by the umask on some platforms
            return
        }
        guard st.st_mode & S_IFMT == S_IFDIR, st.st_uid == geteuid(), st.st_mode & S_ISVTX == 0 else { return }
        if st.st_mode & 0o077 != 0 { _ = chmod(path, 0o700) }
    }

    /// Creates `path` empty with mode 0600 when it does not exist, so that
    /// SQLite (which gives its -wal and -shm files the database file's mode)
    /// never creates it world-readable.
    public static func createPrivateFile(_ path: String) {
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        if fd >= 0 {
            _ = fchmod(fd, 0o600)
            close(fd)
        }
    }

    /// Narrows existing files to 0600 (those missing are skipped).
    public static func makePrivate(_ paths: [String]) {
        for p in paths {
            var st = stat()
            guard stat(p, &st) == 0, st.st_mode & S_IFMT == S_IFREG, st.st_uid == geteuid(), st.st_mode & 0o177 != 0 else { continue }
            _ = chmod(p, 0o600)
        }
    }

    /// A SQLite database file with its journal files.
    public static func sqliteFiles(_ path: String) -> [String] { [path, path + "-wal", path + "-shm", path + "-journal"] }
}
