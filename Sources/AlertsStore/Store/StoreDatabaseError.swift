import GRDB

/// The error the store throws when SQLite refuses a read or a write (disk full,
/// read-only file, a lock held by another process). Services outside the store
/// catch it by this name, without importing GRDB.
public typealias StoreDatabaseError = DatabaseError
