/// A 128-bit MurmurHash3 (x64 variant), stable across processes and
/// machines, unlike `Hasher`. Used for idempotency keys of messages that
/// carry no id of their own and for the inbox's content key.
public enum StableHash {
    /// Hex digest (32 characters) of the bytes.
    public static func hex<C: Collection<UInt8>>(_ bytes: C, seed: UInt64 = 0x5041_5452_4f4c_4855) -> String {
        let (h1, h2) = murmur3_128(Array(bytes), seed: seed)
        return hex64(h1) + hex64(h2)
    }

    /// The 128-bit digest of a message: the payload hashed with a seed
    /// derived from the topic (so equal payloads on two topics differ),
    /// without copying the payload.
    public static func digest(topic: String, payload: [UInt8]) -> (UInt64, UInt64) {
        let topicSeed = murmur3_128(Array(topic.utf8), seed: 0x5041_5452_4f4c_4855).0
        return murmur3_128(payload, seed: topicSeed)
    }

    /// Hex form (32 characters) of `digest(topic:payload:)`.
    public static func hex(topic: String, payload: [UInt8]) -> String {
        let (h1, h2) = digest(topic: topic, payload: payload)
        return hex64(h1) + hex64(h2)
    }

    /// Hex form of a digest.
    public static func hex(_ d: (UInt64, UInt64)) -> String { hex64(d.0) + hex64(d.1) }

    private static func hex64(_ v: UInt64) -> String { HubFormat.zeroPadded(v, width: 16, radix: 16) }

    @inline(__always) private static func rotl(_ x: UInt64, _ r: UInt64) -> UInt64 { (x << r) | (x >> (64 - r)) }

    @inline(__always) private static func fmix(_ k: UInt64) -> UInt64 {
        var k = k
        k ^= k >> 33
        k &*= 0xff51_afd7_ed55_8ccd
        k ^= k >> 33
        k &*= 0xc4ce_b9fe_1a85_ec53
        k ^= k >> 33
        return k
    }

    static func murmur3_128(_ data: [UInt8], seed: UInt64) -> (UInt64, UInt64) {
        let c1: UInt64 = 0x87c3_7b91_1142_53d5
        let c2: UInt64 = 0x4cf5_ad43_2745_937f
        var h1 = seed
        var h2 = seed
        let n = data.count
        let blocks = n / 16
        data.withUnsafeBytes { raw in
            for i in 0..<blocks {
                var k1 = UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: i * 16, as: UInt64.self))
                var k2 = UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: i * 16 + 8, as: UInt64.self))
                k1 &*= c1; k1 = rotl(k1, 31); k1 &*= c2; h1 ^= k1
                h1 = rotl(h1, 27); h1 &+= h2; h1 = h1 &* 5 &+ 0x52dc_e729
                k2 &*= c2; k2 = rotl(k2, 33); k2 &*= c1; h2 ^= k2
                h2 = rotl(h2, 31); h2 &+= h1; h2 = h2 &* 5 &+ 0x3849_5ab5
            }
        }
        let tail = blocks * 16
        var k1: UInt64 = 0
        var k2: UInt64 = 0
        let rem = n & 15
        if rem > 8 {
            for i in stride(from: rem - 1, through: 8, by: -1) { k2 ^= UInt64(data[tail + i]) << (UInt64(i - 8) * 8) }
            k2 &*= c2; k2 = rotl(k2, 33); k2 &*= c1; h2 ^= k2
        }
        if rem > 0 {
            for i in stride(from: min(rem, 8) - 1, through: 0, by: -1) { k1 ^= UInt64(data[tail + i]) << (UInt64(i) * 8) }
            k1 &*= c1; k1 = rotl(k1, 31); k1 &*= c2; h1 ^= k1
        }
        h1 ^= UInt64(n); h2 ^= UInt64(n)
        h1 &+= h2; h2 &+= h1
        h1 = fmix(h1); h2 = fmix(h2)
        h1 &+= h2; h2 &+= h1
        return (h1, h2)
    }
}
