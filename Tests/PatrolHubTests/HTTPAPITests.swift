import Alerts
@testable import AlertsStore
import Foundation
import GRDB
@testable import Reports
import Testing
@testable import PatrolHub

/// The dispatch-room HTTP API against a live hub: real broker, real
/// pipeline, real SQLite, Hummingbird on a free port, URLSession as the client.
@Suite("HTTP API over a live hub", .serialized)
struct HTTPAPITests {
    /// The ids of a list response, in order; throws unless it is a 200 with an items array.
    func ids(_ r: HTTPResult, key: String = "id") throws -> [String] { try r.ids(key: key) }

    @Test("healthz reports ingest and the pipeline from memory; Prometheus metrics report the store")
    func healthAndMetrics() async throws {
        try await DispatchFixture.run { f in
            let c = f.client()
            // The counts come from the pipeline's step reports, a moment after its commit.
            var health = try await c.get("/healthz")
            for _ in 0..<500 where health.json["pipeline"]?["pending"] != .bool(false) {
                try await Task.sleep(for: .milliseconds(20))
                health = try await c.get("/healthz")
            }
            #expect(health.status == 200)
            #expect(health.json["status"] == .string("ok"))
            #expect(health.json["problems"] == .array([]))
            #expect(health.json["ingest"]?["received"] == .number(7))
            #expect(health.json["ingest"]?["failing"] == .bool(false))
            #expect(health.json["pipeline"]?["processed"] == .number(7))
            #expect(health.json["pipeline"]?["pending"] == .bool(false))
            #expect(health.json["pipeline"]?["stalled"] == .bool(false))

            let m = try await c.get("/metrics")
            #expect(m.status == 200)
            #expect(m.header("Content-Type")?.hasPrefix("text/plain; version=0.0.4") == true)
            let lines = Set(m.text.split(separator: "\n").map(String.init))
            for expected in [
                "patrolhub_inbox_received 7.0", "patrolhub_inbox_processed 7.0", "patrolhub_inbox_pending 0.0",
                "patrolhub_pipeline_lag_seconds 0.0",
                #"patrolhub_dead_letters_total{reason="malformed"} 1"#, #"patrolhub_dead_letters_total{reason="unknown_source"} 0"#,
                #"patrolhub_risk_items{state="open"} 4.0"#, "patrolhub_risk_items_suppressed 0.0",
                #"patrolhub_slips{kind="warning",state="open"} 2.0"#, #"patrolhub_slips{kind="reminder",state="open"} 0.0"#,
                #"patrolhub_cases{state="new"} 1.0"#, #"patrolhub_cases{state="acknowledged"} 1.0"#, #"patrolhub_cases{state="resolved"} 1.0"#,
                "# TYPE patrolhub_cases gauge", "patrolhub_stream_clients 0.0",
            ] {
                #expect(lines.contains(expected), "metrics line '\(expected)' in:\n\(m.text)")
            }
        }
    }

    @Test("risk items: the exact RiskItem JSON, filters by zone (with children), state, category, since, drill; paging")
    func riskItems() async throws {
        try await DispatchFixture.run { f in
            let c = f.client()
            let all = try await c.get("/api/v1/risk-items")
            #expect(all.status == 200)
            let stored = try f.store.riskItems()
            #expect(all.json == .object(["items": .array(stored.map(\.json)), "next": .null]), "newest first, as the output topics carry them")
            #expect(stored.count == 6)

            #expect(try ids(try await c.get("/api/v1/risk-items?category=intrusion")) == stored.filter { $0.category == .intrusion }.map(\.id))
            #expect(try ids(try await c.get("/api/v1/risk-items?category=fight,motion")).count == 2)
            let inB = stored.filter { $0.zone == f.gridB.code }.map(\.id)
            #expect(inB.count == 4)
            #expect(try ids(try await c.get("/api/v1/risk-items?zone=\(f.gridB.code)")) == inB)
            #expect(try ids(try await c.get("/api/v1/risk-items?zone=\(f.streetB)")) == inB, "a street matches its grids")
            #expect(try ids(try await c.get("/api/v1/risk-items?zone=\(f.district)")) == stored.map(\.id), "the district matches everything")
            let unknownZone = try await c.get("/api/v1/risk-items?zone=no-such-zone")
            #expect(unknownZone.status == 400, "an unknown zone is refused, not an empty list")
            #expect(unknownZone.json["error"]?["message"]?.stringValue?.contains("unknown zone 'no-such-zone'") == true, "\(unknownZone.text)")
            #expect(try ids(try await c.get("/api/v1/risk-items?state=closed")) == stored.filter { $0.state == .closed }.map(\.id))
            #expect(try ids(try await c.get("/api/v1/risk-items?state=closed")).count == 2)
            #expect(try ids(try await c.get("/api/v1/risk-items?drill=true")) == stored.filter(\.drill).map(\.id))
            #expect(try ids(try await c.get("/api/v1/risk-items?drill=true")).count == 1)
            let since = f.at(5).rfc3339.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!
            let recent = try await c.get("/api/v1/risk-items?since=\(since)")
            #expect(try ids(recent) == stored.filter { $0.lastSeen >= f.at(5) }.map(\.id))
            #expect(try ids(recent).count == 1)

            // Paging: 4 + 2, no duplicates, same order as one page.
            let p1 = try await c.get("/api/v1/risk-items?limit=4")
            #expect(try ids(p1).count == 4)
            let next = try #require(p1.json["next"]?.stringValue)
            let p2 = try await c.get("/api/v1/risk-items?limit=4&cursor=\(next)")
            #expect(try ids(p2).count == 2)
            #expect(p2.json["next"] == .null)
            #expect(try ids(p1) + ids(p2) == stored.map(\.id))
            // Paging keeps the filters.
            let q1 = try await c.get("/api/v1/risk-items?zone=\(f.gridB.code)&limit=3")
            let q2 = try await c.get("/api/v1/risk-items?zone=\(f.gridB.code)&limit=3&cursor=\(try #require(q1.json["next"]?.stringValue))")
            #expect(try ids(q1) + ids(q2) == inB)
            // A page exactly full is the last one: no cursor to an empty page.
            let full = try await c.get("/api/v1/risk-items?limit=\(stored.count)")
            #expect(try ids(full) == stored.map(\.id))
            #expect(full.json["next"] == .null, "\(stored.count) items at limit \(stored.count): \(full.text.suffix(80))")
            let h1 = try await c.get("/api/v1/risk-items?limit=3")
            #expect(try ids(h1).count == 3)
            let h2 = try await c.get("/api/v1/risk-items?limit=3&cursor=\(try #require(h1.json["next"]?.stringValue))")
            #expect(try ids(h1) + ids(h2) == stored.map(\.id))
            #expect(h2.json["next"] == .null, "the second page of three is exactly full and the last: \(h2.text.suffix(80))")
            let beyond = try await c.get("/api/v1/risk-items?limit=\(stored.count + 1)")
            #expect(try ids(beyond) == stored.map(\.id))
            #expect(beyond.json["next"] == .null)

            for (query, parameter) in [("state=bogus", "state"), ("category=volcano", "category"), ("since=yesterday", "since"),
                                       ("limit=0", "limit"), ("limit=5000", "limit"), ("cursor=abc", "cursor"), ("drill=maybe", "drill"), ("zon=1", "zon")] {
                let r = try await c.get("/api/v1/risk-items?\(query)")
                #expect(r.status == 400, "\(query)")
                #expect(r.json["error"]?["message"]?.stringValue?.contains("query parameter '\(parameter)'") == true, "\(query): \(r.text)")
            }
        }
    }

    @Test("slips by kind, as Slip.json")
    func slips() async throws {
        try await DispatchFixture.run { f in
            let c = f.client()
            let stored = try await f.store.writer.read { db in try DisputeStore.slips(ListQuery(), db: db).items }
            #expect(stored.count == 2)
            #expect(Set(stored.map(\.category)) == [.fight, .intrusion])
            let warning = try await c.get("/api/v1/slips?kind=warning")
            #expect(warning.json == .object(["items": .array(stored.map(\.json)), "next": .null]))
            #expect(try ids(try await c.get("/api/v1/slips?kind=reminder")) == [])
            #expect(try ids(try await c.get("/api/v1/slips?kind=supervision")) == [])
            #expect(try ids(try await c.get("/api/v1/slips?zone=\(f.gridA.code)")) == stored.filter { $0.zone == f.gridA.code }.map(\.id))
            #expect(try ids(try await c.get("/api/v1/slips?category=intrusion")).count == 1)
            let bad = try await c.get("/api/v1/slips?kind=memo")
            #expect(bad.status == 400)
            #expect(bad.text.contains("query parameter 'kind'"))
            #expect(try await c.get("/api/v1/risk-items?kind=warning").status == 400, "kind is for slips only")
        }
    }

    @Test("cases: list as Case.json, state (and open) and zone filters, detail with transitions and evidence")
    func cases() async throws {
        try await DispatchFixture.run { f in
            let c = f.client()
            let all = try await c.get("/api/v1/cases")
            #expect(try ids(all) == ["AJ-00000102", "AJ-00000101", "AJ-00000001"])
            let stored = try await f.store.writer.read { db in try DisputeStore.fetchCases(db: db) }
            #expect(all.json == .object(["items": .array(stored.map(\.json)), "next": .null]))
            #expect(try ids(try await c.get("/api/v1/cases?state=open")) == ["AJ-00000101", "AJ-00000001"])
            #expect(try ids(try await c.get("/api/v1/cases?state=acknowledged")) == ["AJ-00000101"])
            #expect(try ids(try await c.get("/api/v1/cases?state=new,resolved")) == ["AJ-00000102", "AJ-00000001"])
            #expect(try ids(try await c.get("/api/v1/cases?zone=\(f.gridB.code)")) == ["AJ-00000102", "AJ-00000101"])
            #expect(try ids(try await c.get("/api/v1/cases?category=fight")) == ["AJ-00000001"])
            #expect(try ids(try await c.get("/api/v1/cases?limit=1")) == ["AJ-00000102"])
            let exactlyFull = try await c.get("/api/v1/cases?limit=3")
            #expect(try ids(exactlyFull) == ["AJ-00000102", "AJ-00000101", "AJ-00000001"])
            #expect(exactlyFull.json["next"] == .null, "three cases at limit 3: \(exactlyFull.text.suffix(80))")
            #expect(try await c.get("/api/v1/cases?state=closedish").status == 400)

            let detail = try await c.get("/api/v1/cases/AJ-00000101")
            #expect(detail.status == 200)
            let c2 = try #require(stored.first { $0.id == "AJ-00000101" })
            // Case.json plus transitions, risk_items and slips.
            guard case .object(let o) = detail.json, case .object(let base) = c2.json else { Issue.record("not objects"); return }
            for (k, v) in base { #expect(o[k] == v, "field \(k)") }
            #expect(Set(o.keys) == Set(base.keys).union(["transitions", "risk_items", "slips"]))
            #expect(o["state"] == .string("acknowledged"))
            #expect(o["explanation"] == .string("Correlation: three intrusions in one grid."))
            guard case .array(let transitions)? = o["transitions"] else { Issue.record("no transitions"); return }
            #expect(transitions.count == 1)
            #expect(transitions.first?["by"] == .string("desk-1"))
            #expect(transitions.first?["from"] == .string("new"))
            #expect(transitions.first?["to"] == .string("acknowledged"))
            #expect(transitions.first?["note"] == .string("on it"))
            let evidence = try f.store.riskItems().filter { c2.riskItemIDs.contains($0.id) }.sorted { $0.id < $1.id }
            #expect(o["risk_items"] == .array(evidence.map(\.json)))
            #expect(evidence.count == 3)

            let missing = try await c.get("/api/v1/cases/AJ-99999999")
            #expect(missing.status == 404)
            #expect(missing.json["error"]?["message"] == .string("no case AJ-99999999"))
        }
    }

    @Test("zones: the grid as GeoJSON with live counts rolled up the hierarchy")
    func zones() async throws {
        try await DispatchFixture.run { f in
            let c = f.client()
            let index = try #require(f.hub.hub.placer.zones)
            let all = try await c.get("/api/v1/zones")
            #expect(all.status == 200)
            guard case .array(let items)? = all.json["items"] else { Issue.record("no items"); return }
            #expect(items.count == index.zones.count)
            func zone(_ code: String) -> JSONValue? { items.first { $0["code"] == .string(code) } }
            let a = try #require(zone(f.gridA.code))
            #expect(a["level"] == .string("grid"))
            #expect(a["name"] == .string(f.gridA.name))
            #expect(a["geometry"]?["type"] == .string("MultiPolygon"))
            guard case .array(let polygons)? = a["geometry"]?["coordinates"], case .array(let rings)? = polygons.first,
                  case .array(let ring)? = rings.first else { Issue.record("no coordinates"); return }
            #expect(ring.count == f.gridA.geometry.polygons[0].rings[0].count)
            #expect(ring.first == .array([.number(f.gridA.geometry.polygons[0].rings[0][0].lon), .number(f.gridA.geometry.polygons[0].rings[0][0].lat)]))
            #expect(a["counts"] == .object(["open_risk_items": .number(2), "suppressed_risk_items": .number(0), "open_cases": .number(1),
                                            "open_slips": .number(1), "max_severity": .number(1)]))
            let b = try #require(zone(f.gridB.code))
            #expect(b["counts"] == .object(["open_risk_items": .number(2), "suppressed_risk_items": .number(0), "open_cases": .number(1),
                                            "open_slips": .number(1), "max_severity": .number(3)]))
            let district = try #require(zone(f.district))
            #expect(district["counts"]?["open_risk_items"] == .number(4))
            #expect(district["counts"]?["open_cases"] == .number(2))
            #expect(district["counts"]?["open_slips"] == .number(2))
            #expect(district["counts"]?["max_severity"] == .number(1))

            let grids = try await c.get("/api/v1/zones?level=grid&geometry=false")
            guard case .array(let gridItems)? = grids.json["items"] else { Issue.record("no items"); return }
            #expect(gridItems.count == index.zones.filter { $0.level == .grid }.count)
            #expect(gridItems.allSatisfy { $0["level"] == .string("grid") && $0["geometry"] == nil })

            let street = try await c.get("/api/v1/zones/\(f.streetB)")
            #expect(street.status == 200)
            guard case .array(let children)? = street.json["children"] else { Issue.record("no children"); return }
            #expect(Set(children.compactMap(\.stringValue)) == Set(index.zones.filter { $0.parent == f.streetB }.map(\.code)))
            #expect(street.json["counts"]?["open_risk_items"] == .number(2))
            #expect(try await c.get("/api/v1/zones/\(f.gridA.code)").json["children"] == .array([]))
            #expect(try await c.get("/api/v1/zones/999").status == 404)
            #expect(try await c.get("/api/v1/zones?level=planet").status == 400)
        }
    }

    @Test("reports: the same builders and renderers as `patrolhub report`, in html, md and csv")
    func reports() async throws {
        try await DispatchFixture.run { f in
            let c = f.client()
            var cal = Calendar(identifier: .gregorian)
            cal.timeZone = f.hub.hub.config.timezone
            // The day of the fixture's events, not of the wall clock: a run just after
            // midnight on a Monday must still find them in "this" week.
            let d = cal.dateComponents([.year, .month, .day], from: f.at(3))
            let day = LocalDay(year: d.year!, month: d.month!, day: d.day!)
            let md = try await c.get("/api/v1/reports/weekly?date=\(day)&format=md")
            #expect(md.status == 200)
            #expect(md.header("Content-Type") == "text/markdown; charset=utf-8")
            let expected = ReportRenderer.render(try ReportCatalog.build("weekly", date: day, context: ReportContext(timeZone: cal.timeZone), store: f.store), as: .md)
            // Everything but the line with the minute it was generated.
            let strip = { (t: String) in t.split(separator: "\n").filter { !$0.contains(" · generated ") }.map(String.init) }
            #expect(strip(md.text) == strip(expected))
            #expect(md.text.contains("intrusion"), "the fixture's intrusions are in this week's analysis")
            let html = try await c.get("/api/v1/reports/weekly?date=\(day)")
            #expect(html.header("Content-Type") == "text/html; charset=utf-8")
            #expect(html.text.contains("<svg"))
            #expect(try await c.get("/api/v1/reports/daily?format=csv").header("Content-Type") == "text/csv; charset=utf-8")
            let monthly = try await c.get("/api/v1/reports/monthly?date=\(day)&format=md")
            #expect(monthly.status == 200, "the monthly evaluation is served: \(monthly.text.prefix(200))")
            #expect(monthly.header("Content-Type") == "text/markdown; charset=utf-8")
            let yearly = try await c.get("/api/v1/reports/yearly")
            #expect(yearly.status == 404)
            #expect(yearly.json["error"]?["message"] == .string("unknown report 'yearly' (one of: daily, weekly, monthly)"), "\(yearly.text)")
            #expect(try await c.get("/api/v1/reports/daily?date=03/01/2025").text.contains("query parameter 'date'"))
            #expect(try await c.get("/api/v1/reports/daily?format=pdf").status == 400)
        }
    }

    @Test("silences: create, list, validate, expire and delete, with the audit log; a new silence mutes the next event")
    func silences() async throws {
        try await DispatchFixture.run { f in
            let c = f.client()
            let bad = try await c.post("/api/v1/silences", #"{"zone":"\#(f.gridA.code)","duration":"2h","created_by":"desk-1"}"#)
            #expect(bad.status == 400)
            #expect(bad.json["error"]?["message"] == .string("field 'comment': is required: say why"))
            let noMatcher = try await c.post("/api/v1/silences", #"{"duration":"2h","created_by":"desk-1","comment":"x"}"#)
            #expect(noMatcher.text.contains("field 'matchers'"))
            #expect(try await c.post("/api/v1/silences", #"{"zone":"x","duration":"2h","comment":"x"}"#).text.contains("created_by is required"))
            #expect(try await c.post("/api/v1/silences", #"{"zone":"x","duration":"soon","created_by":"a","comment":"x"}"#).text.contains("field 'duration'"))
            #expect(try await c.post("/api/v1/silences", #"{"zone":"x","created_by":"a","comment":"x"}"#).text.contains("give ends_at or duration"))
            #expect(try await c.post("/api/v1/silences", #"{"category":"volcano","duration":"1h","created_by":"a","comment":"x"}"#).status == 400)
            #expect(try await c.post("/api/v1/silences", #"{"zone":"x","duration":"1h","created_by":"a","comment":"x","colour":"red"}"#).text.contains("field 'colour'"))
            #expect(try await c.post("/api/v1/silences", "not json").text.contains("not JSON"))

            // Maintenance of camera A, from 10 minutes ago (event time) for 2 hours.
            let start = Date().addingTimeInterval(-600).rfc3339
            let created = try await c.post("/api/v1/silences", #"{"source":"\#(f.cameraA)","starts_at":"\#(start)","duration":"2h","created_by":"desk-1","comment":"lens cleaning"}"#)
            #expect(created.status == 201, "\(created.text)")
            let id = try #require(created.json["id"]?.stringValue)
            #expect(id == "JM-000001")
            #expect(created.json["state"] == .string("active"))
            #expect(created.json["source"] == .string(f.cameraA))
            #expect(created.json["created_by"] == .string("desk-1"))
            #expect(try ids(try await c.get("/api/v1/silences")) == [id])

            // The pipeline reads silences per batch: a new event of camera A is muted by it.
            try await f.pub.publishAll([(eventTopic(f.cameraA), cameraEvent("after-silence", type: "crowd_gathering", time: Date().addingTimeInterval(-60)))])
            try await f.hub.waitProcessed(received: 8)
            let muted = try #require(try f.store.riskItems().first { $0.category == .crowdGathering })
            #expect(muted.suppressedBy?.hasPrefix("silenced: \(id) by desk-1") == true)

            let expired = try await c.delete("/api/v1/silences/\(id)?by=desk-2")
            #expect(expired.status == 200)
            #expect(expired.json == .object(["id": .string(id), "expired": .bool(true)]))
            #expect(try ids(try await c.get("/api/v1/silences")) == [])
            let everything = try await c.get("/api/v1/silences?all=true")
            #expect(try ids(everything) == [id])
            #expect(everything.json["items"]?.arrayFirst?["state"] == .string("ended"))
            #expect(try await c.delete("/api/v1/silences/\(id)").text.contains("by is required"))
            #expect(try await c.delete("/api/v1/silences/\(id)?by=admin&purge=true").status == 200)
            #expect(try await c.get("/api/v1/silences?all=true").json["items"] == .array([]))
            #expect(try await c.delete("/api/v1/silences/JM-999999?by=a").status == 404)

            let audit = try await f.store.writer.read { db in
                try Row.fetchAll(db, sql: "SELECT actor, subject, action FROM audit_log WHERE action LIKE 'silence.%' ORDER BY id").map { "\($0[0] as String) \($0[1] as String) \($0[2] as String)" }
            }
            #expect(audit == ["desk-1 \(id) silence.created", "desk-2 \(id) silence.expired", "admin \(id) silence.deleted"])
        }
    }
}

extension JSONValue {
    var arrayFirst: JSONValue? { if case .array(let a) = self { return a.first }; return nil }
}
