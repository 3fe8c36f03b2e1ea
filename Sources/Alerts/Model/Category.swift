/// The risk taxonomy of SPEC.md ("Risk taxonomy"): every event from every
/// format is mapped onto one of these categories before any rule sees it.
public enum Category: String, Sendable, Codable, CaseIterable, Hashable, Comparable {
    // Camera analytics
    case crowdGathering = "crowd_gathering"
    case fight
    case intrusion
    case tripwire
    case loitering
    case wrongWay = "wrong_way"
    case leftObject = "left_object"
    case objectRemoved = "object_removed"
    case fireSmoke = "fire_smoke"
    case personFall = "person_fall"
    case banner
    case streetVending = "street_vending"
    case illegalParking = "illegal_parking"
    case garbage
    case motion
    // Patrol reports
    case dispute
    case wageArrears = "wage_arrears"
    case neighbourConflict = "neighbour_conflict"
    case familyConflict = "family_conflict"
    case safetyHazard = "safety_hazard"
    case publicOrder = "public_order"
    case other
    // Camera health
    case cameraOffline = "camera_offline"
    case cameraTampered = "camera_tampered"
    case cameraDegraded = "camera_degraded"
    // Patrol
    case missedCheckpoint = "missed_checkpoint"
    case sos

    /// The group a category belongs to, which decides who may report it.
    public enum Family: String, Sendable {
        case cameraAnalytics = "camera_analytics"
        case patrolReport = "patrol_report"
        case cameraHealth = "camera_health"
        case patrol
    }

    /// The category's family: who may report it and which topics carry it.
    public var family: Family {
        switch self {
        case .crowdGathering, .fight, .intrusion, .tripwire, .loitering, .wrongWay, .leftObject,
             .objectRemoved, .fireSmoke, .personFall, .banner, .streetVending, .illegalParking,
             .garbage, .motion:
            return .cameraAnalytics
        case .dispute, .wageArrears, .neighbourConflict, .familyConflict, .safetyHazard,
             .publicOrder, .other:
            return .patrolReport
        case .cameraOffline, .cameraTampered, .cameraDegraded:
            return .cameraHealth
        case .missedCheckpoint, .sos:
            return .patrol
        }
    }

    /// Categories that SPEC.md calls "dispute categories": a patrol report of
    /// one of them opens a case by itself.
    public var isDisputeCategory: Bool {
        switch self {
        case .dispute, .wageArrears, .neighbourConflict, .familyConflict: return true
        default: return false
        }
    }

    /// The default severity of a category when the source gives none
    /// (1 is the most severe, 4 the least, as GB/T 28181 alarm priority).
    public var defaultSeverity: Severity {
        switch self {
        case .fight, .fireSmoke, .personFall, .sos: return .critical
        case .crowdGathering, .banner, .cameraTampered, .dispute, .wageArrears,
             .familyConflict, .publicOrder:
            return .major
        case .intrusion, .tripwire, .loitering, .wrongWay, .leftObject, .objectRemoved,
             .cameraOffline, .neighbourConflict, .safetyHazard, .missedCheckpoint:
            return .minor
        case .streetVending, .illegalParking, .garbage, .motion, .cameraDegraded, .other:
            return .info
        }
    }

    /// By raw value, so lists and reports sort the same everywhere.
    public static func < (lhs: Category, rhs: Category) -> Bool { lhs.rawValue < rhs.rawValue }

    /// Hashed by its case, not its text: the default for a `String`-backed enum hashes the
    /// raw value, and categories key the engine's windows and maps, looked up for every event.
    /// (A case without payload is stored as its one-byte tag, `CategoryTests` checks the size.)
    public func hash(into hasher: inout Hasher) { hasher.combine(unsafeBitCast(self, to: UInt8.self)) }

    /// The case's position in `allCases` (its one-byte tag): 0 ..< `allCases.count`.
    public var ordinal: Int { Int(unsafeBitCast(self, to: UInt8.self)) }

    /// The category as one bit of a 64-bit mask (there are fewer than 64 categories; `CategoryTests` checks).
    public var bit: UInt64 { 1 << UInt64(ordinal) }
}

/// Severity follows GB/T 28181 alarm priority: 1 is the most severe, 4 the least.
public enum Severity: Int, Sendable, Codable, CaseIterable, Comparable, Hashable {
    case critical = 1
    case major = 2
    case minor = 3
    case info = 4

    /// By number: `critical` (1) sorts first, as the most severe.
    public static func < (lhs: Severity, rhs: Severity) -> Bool { lhs.rawValue < rhs.rawValue }
}

extension Category {
    /// The name a Chinese dispatch room uses for the category.
    public var chineseName: String {
        switch self {
        case .crowdGathering: return "人员聚集"
        case .fight: return "打架斗殴"
        case .intrusion: return "区域入侵"
        case .tripwire: return "越线"
        case .loitering: return "徘徊"
        case .wrongWay: return "逆行"
        case .leftObject: return "物品遗留"
        case .objectRemoved: return "物品移除"
        case .fireSmoke: return "烟火"
        case .personFall: return "人员倒地"
        case .banner: return "拉横幅"
        case .streetVending: return "占道经营"
        case .illegalParking: return "违章停车"
        case .garbage: return "垃圾堆放"
        case .motion: return "移动侦测"
        case .dispute: return "矛盾纠纷"
        case .wageArrears: return "欠薪"
        case .neighbourConflict: return "邻里纠纷"
        case .familyConflict: return "家庭纠纷"
        case .safetyHazard: return "安全隐患"
        case .publicOrder: return "治安问题"
        case .other: return "其他"
        case .cameraOffline: return "摄像机离线"
        case .cameraTampered: return "摄像机遮挡"
        case .cameraDegraded: return "图像质量异常"
        case .missedCheckpoint: return "漏巡"
        case .sos: return "紧急求助"
        }
    }
}
