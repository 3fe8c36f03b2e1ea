/// A static bounding-box tree (R-tree) packed with Sort-Tile-Recursive (STR),
/// stored in flat arrays for lookups without allocation or pointer chasing.
///
/// STR (Leutenegger et al., 1997) sorts the boxes by centre x into vertical
/// slices, each slice by centre y, and packs runs of `fanout` boxes into
/// nodes, level by level, so nodes are full and hardly overlap. The tree is
/// built once and never changes, which is what zone files need.
///
/// Layout: node `i` has its box at `boxes[4i ..< 4i+4]` (minX, minY, maxX,
/// maxY). Leaf entries come first (`childCount == 0`, `first` is the item
/// id); an inner node's children are the contiguous nodes
/// `first ..< first + childCount`. The root is the last node.
public struct RTree: Sendable {
    /// Children per node. 16 keeps a node's boxes within a few cache lines.
    public static let fanout = 16

    @usableFromInline var boxes: ContiguousArray<Double> = []
    @usableFromInline var first: ContiguousArray<Int32> = []
    @usableFromInline var childCount: ContiguousArray<Int32> = []
    @usableFromInline var root: Int32 = -1
    /// Enough stack slots for a depth-first search: height × (fanout − 1) + 1.
    @usableFromInline var stackCapacity = 1
    /// Number of levels above the leaf entries.
    public private(set) var height = 0
    /// Number of items indexed.
    public private(set) var count = 0

    /// Packs the boxes; item `i` is `boxes[i]`. Boxes use `x` = longitude, `y` = latitude.
    public init(boxes items: [GeoBoundingBox]) {
        count = items.count
        guard !items.isEmpty else { return }
        struct Node { var minX, minY, maxX, maxY: Double; var first: Int32; var count: Int32 }
        var level = items.enumerated().map { i, b in
            Node(minX: b.minLon, minY: b.minLat, maxX: b.maxLon, maxY: b.maxLat, first: Int32(i), count: 0)
        }
        let m = RTree.fanout
        var isLeafLevel = true
        let total = items.count + items.count / (m - 1) + 2 * 8
        boxes.reserveCapacity(4 * total)
        first.reserveCapacity(total)
        childCount.reserveCapacity(total)
        while true {
            // STR order: slices by centre x, each slice by centre y.
            let n = level.count
            let nodes = (n + m - 1) / m
            let slices = Int(Double(nodes).squareRoot().rounded(.up))
            let sliceSize = m * ((nodes + slices - 1) / slices)
            level.sort { ($0.minX + $0.maxX) < ($1.minX + $1.maxX) }
            var s = 0
            while s < n {
                let e = Swift.min(n, s + sliceSize)
                level[s..<e].sort { ($0.minY + $0.maxY) < ($1.minY + $1.maxY) }
                s = e
            }
            let base = Int32(first.count)
            for node in level {
                boxes.append(node.minX); boxes.append(node.minY)
                boxes.append(node.maxX); boxes.append(node.maxY)
                first.append(node.first)
                childCount.append(node.count)
            }
            if !isLeafLevel && n == 1 {
                root = base
                break
            }
            var parents: [Node] = []
            parents.reserveCapacity(nodes)
            var g = 0
            while g < n {
                let e = Swift.min(n, g + m)
                var p = Node(minX: .infinity, minY: .infinity, maxX: -.infinity, maxY: -.infinity,
                             first: base + Int32(g), count: Int32(e - g))
                for c in level[g..<e] {
                    p.minX = Swift.min(p.minX, c.minX); p.minY = Swift.min(p.minY, c.minY)
                    p.maxX = Swift.max(p.maxX, c.maxX); p.maxY = Swift.max(p.maxY, c.maxY)
                }
                parents.append(p)
                g = e
            }
            level = parents
            isLeafLevel = false
            height += 1
        }
        stackCapacity = height * (m - 1) + 2
    }

    /// Calls `body` with the id of every item whose box contains (x, y),
    /// edges included. No allocation: the search stack lives on the stack.
    @inline(__always)
    func forEachItem(containingX x: Double, y: Double, _ body: (Int32) -> Void) {
        guard root >= 0 else { return }
        boxes.withUnsafeBufferPointer { bx in
            first.withUnsafeBufferPointer { fc in
                childCount.withUnsafeBufferPointer { cc in
                    let r = Int(root)
                    if x < bx[4 * r] || y < bx[4 * r + 1] || x > bx[4 * r + 2] || y > bx[4 * r + 3] { return }
                    withUnsafeTemporaryAllocation(of: Int32.self, capacity: stackCapacity) { stack in
                        stack[0] = root
                        var sp = 1
                        while sp > 0 {
                            sp -= 1
                            let node = Int(stack[sp])
                            let start = Int(fc[node])
                            let end = start + Int(cc[node])
                            var c = start
                            while c < end {
                                let b = 4 * c
                                if x >= bx[b] && y >= bx[b + 1] && x <= bx[b + 2] && y <= bx[b + 3] {
                                    if cc[c] == 0 {
                                        body(fc[c])
                                    } else {
                                        stack[sp] = Int32(c)
                                        sp += 1
                                    }
                                }
                                c += 1
                            }
                        }
                    }
                }
            }
        }
    }

    /// The item ids in leaf order (the order of the first `count` nodes):
    /// storing item data in this order keeps neighbours close in memory.
    var leafOrder: [Int32] { Array(first.prefix(count)) }

    /// Renames the items: leaf entry `k` (in leaf order) gets `ids[k]`.
    mutating func renameItems(_ ids: [Int32]) {
        precondition(ids.count == count)
        for k in 0..<count { first[k] = ids[k] }
    }

    /// Ids of the items whose box contains the point (for tests and tools).
    public func items(containingLon lon: Double, lat: Double) -> [Int] {
        var out: [Int] = []
        forEachItem(containingX: lon, y: lat) { out.append(Int($0)) }
        return out.sorted()
    }

    /// Bytes held by the tree's arrays.
    public var memoryBytes: Int {
        boxes.capacity * MemoryLayout<Double>.stride
            + (first.capacity + childCount.capacity) * MemoryLayout<Int32>.stride
    }
}
