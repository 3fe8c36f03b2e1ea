import Alerts
import Foundation
import GRDBSQLite

extension DisputeStore {
    /// How `store.memory_mib` is split across SQLite's connections
    /// (docs/MEMORY.md "Memory"). Each connection's page cache fills up to
    /// its `cache_size` and stays there; the store file's map counts in the
    /// process's RSS as far as its pages were read. So the SQLite part of
    /// the hub's memory is at most the budget:
    ///
    /// | part | share | default (256 MiB) |
    /// |---|---|---|
    /// | store writer's page cache (the pipeline: event keys, items, slips) | 3/8 | 96 MiB |
    /// | store file map (`mmap_size`, the writer's only) | 1/4 | 64 MiB |
    /// | store readers' page caches (`storeReaders` = 5: HTTP, outbox, status) | 1/8 | 6.4 MiB each |
    /// | inbox writer's page cache (appends only) | 1/32 | 8 MiB |
    /// | inbox readers' page caches (`inboxReaders` = 2: the pipeline's reads) | 1/32 | 4 MiB each |
    /// | inbox checkpointer's page cache | 1/128 | 2 MiB |
    /// | per-connection overhead (schema, prepared statements, lookaside; 10 connections) | the rest, ~18 % | ~46 MiB |
    ///
    /// No cache is smaller than 1 MiB. Readers beyond `storeReaders` wait for
    /// one (the HTTP side has 4 store threads, so a reader is always left for
    /// the pipeline and the outbox).
    public struct MemoryBudget: Sendable, Equatable {
        /// The whole budget (`store.memory_mib`).
        public var mib: Int
        /// Reader connections of the store file.
        public let storeReaders = 5
        /// Reader connections of the inbox file.
        public let inboxReaders = 2

        /// A budget of `mib` MiB.
        public init(mib: Int) { self.mib = mib }

        var kib: Int { mib * 1024 }
        static let minCacheKiB = 1024

        /// The store writer's `cache_size`: 3/8 of the budget.
        public var storeWriterCacheKiB: Int { max(Self.minCacheKiB, kib * 3 / 8) }
        /// The store writer's `mmap_size`: 1/4 of the budget.
        public var storeMapBytes: Int { mib * 1024 * 1024 / 4 }
        /// Each store reader's `cache_size`: 1/8 of the budget shared.
        public var storeReaderCacheKiB: Int { max(Self.minCacheKiB, kib / 8 / storeReaders) }
        /// The inbox writer's `cache_size`: 1/32 of the budget.
        public var inboxWriterCacheKiB: Int { max(Self.minCacheKiB, kib / 32) }
        /// Each inbox reader's `cache_size`: 1/32 of the budget shared.
        public var inboxReaderCacheKiB: Int { max(Self.minCacheKiB, kib / 32 / inboxReaders) }
        /// The inbox checkpointer's `cache_size`: 1/128 of the budget.
        public var checkpointerCacheKiB: Int { max(Self.minCacheKiB, kib / 128) }

        /// Every connection's page cache at its fullest plus the map, in KiB.
        public var cachesAndMapKiB: Int {
            storeWriterCacheKiB + storeMapBytes / 1024 + storeReaders * storeReaderCacheKiB
                + inboxWriterCacheKiB + inboxReaders * inboxReaderCacheKiB + checkpointerCacheKiB
        }

        /// Connections at most: store writer and readers, inbox writer and readers, checkpointer.
        public var connections: Int { 1 + storeReaders + 1 + inboxReaders + 1 }
    }
}

/// SQLite's own heap, process-wide (every connection's page cache, schema and
/// statements): to tell SQLite's share of the hub's memory from Swift's.
public enum SQLiteMemory {
    /// Bytes SQLite has allocated now (`sqlite3_memory_used`).
    public static var used: Int64 { sqlite3_memory_used() }
    /// Bytes of page cache in use, over every connection (`SQLITE_STATUS_PAGECACHE_OVERFLOW`: SQLite's
    /// page caches come from the heap when no static page-cache buffer is configured, as here).
    public static var pageCache: Int64 {
        var current: Int64 = 0, high: Int64 = 0
        sqlite3_status64(SQLITE_STATUS_PAGECACHE_OVERFLOW, &current, &high, 0)
        return current
    }
}
