import Alerts
import Foundation

/// A small, fast, seeded pseudo-random generator (SplitMix64) whose output is
/// fixed by this file alone, so a scenario run with the same seed produces the
/// same messages on every run of the same build (and, but for the last bit of
/// libm's `log`, on every platform and Swift version).
///
/// The standard library's `Int.random(in:using:)` and friends are not used:
/// their algorithms may change between releases. Every draw the simulator
/// makes goes through the methods here.
///
/// Independent streams (one per camera, per device, per fault) come from
/// `SeededRandom(seed:stream:)`, so adding a camera to the registry does not
/// change what the other cameras publish.
public struct SeededRandom: Sendable, RandomNumberGenerator {
    private var state: UInt64

    /// A generator for `seed`.
    public init(seed: UInt64) {
        state = seed
    }

    /// A generator for one named stream of `seed` (e.g. `"background/cam-007"`).
    public init(seed: UInt64, stream: String) {
        // FNV-1a of the stream name, mixed into the seed.
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in stream.utf8 {
            h ^= UInt64(b)
            h &*= 0x0000_0100_0000_01b3
        }
        var mixer = SeededRandom(seed: seed ^ h)
        state = mixer.next()
    }

    /// The next 64 random bits (SplitMix64, Steele, Lea & Flood 2014).
    public mutating func next() -> UInt64 {
        state &+= 0x9e37_79b9_7f4a_7c15
        var z = state
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }

    /// A double in [0, 1) with 53 random bits.
    public mutating func unit() -> Double {
        Double(next() >> 11) * 0x1.0p-53
    }

    /// A double in `range`.
    public mutating func double(in range: ClosedRange<Double>) -> Double {
        range.lowerBound + unit() * (range.upperBound - range.lowerBound)
    }

    /// An integer in `0..<bound` (Lemire's multiply-shift; the tiny bias is irrelevant here).
    public mutating func int(below bound: Int) -> Int {
        precondition(bound > 0, "bound must be positive")
        return Int(((next() >> 32) &* UInt64(bound)) >> 32)
    }

    /// An integer in `range`.
    public mutating func int(in range: ClosedRange<Int>) -> Int {
        range.lowerBound + int(below: range.count)
    }

    /// True with probability `p`.
    public mutating func chance(_ p: Double) -> Bool { unit() < p }

    /// An exponentially distributed wait with the given mean (for Poisson arrivals).
    public mutating func exponential(mean: Double) -> Double {
        // 1 - unit() is in (0, 1], so the logarithm is finite.
        -mean * log(1 - unit())
    }

    /// An index chosen with probability proportional to `weights` (all ≥ 0, sum > 0).
    public mutating func weightedIndex(_ weights: [Double]) -> Int {
        let total = weights.reduce(0, +)
        var r = unit() * total
        for (i, w) in weights.enumerated() {
            if r < w { return i }
            r -= w
        }
        return weights.lastIndex { $0 > 0 } ?? 0
    }

    /// `count` lowercase hex digits.
    public mutating func hex(_ count: Int) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(count)
        for _ in 0..<count { out.append(digits[int(below: 16)]) }
        return String(decoding: out, as: UTF8.self)
    }
}
