import Alerts
import Foundation

/// `GET /`: the live board of the dispatch room (指挥调度大屏), one
/// self-contained page — inline CSS, JavaScript and SVG, nothing fetched
/// from elsewhere (the dispatch room has no internet). It holds no data:
/// it reads the API and the stream with the user's token.
///
/// - the map: the grid zones drawn from `GET /api/v1/zones` (GeoJSON),
///   each grid coloured by its most severe open risk, with counts on hover;
///   clicking a zone filters the feed and the case list to it;
/// - the live feed: risk items, slips, cases and transitions from
///   `GET /api/v1/stream`, newest first (seeded from the lists at load); a risk
///   item that is late, was placed by another rule than its reported location
///   or was timed by the hub's receive time carries a badge (the reason on
///   hover), and a closed slip says why it closed;
/// - the open cases and the detail of the selected one (the most urgent at
///   start): its explanation, evidence, documents, history, and the
///   operator actions (`POST /api/v1/cases/{id}/actions`), those the
///   lifecycle does not allow from the case's state disabled;
/// - the dead letters not replayed yet, counted by reason and by source
///   (`GET /api/v1/dead-letters/summary`, every 10 s): what an installer
///   fixes (register the cameras, then `patrolhub dead-letters replay`).
///
/// Every time on the page is shown in the hub's configured `timezone` with its
/// offset (`2026-12-02 18:30:05 +08:00`), whatever the browser's own zone: the
/// page is built with the zone (`Settings`), as the CLI and the reports use it.
/// A sample config (`sample: true`) puts a banner over the page. The font stack
/// names the CJK fonts dispatch PCs have (Noto Sans CJK / Source Han Sans on
/// Debian with `fonts-noto-cjk`, WenQuanYi, Microsoft YaHei on Windows, PingFang
/// on macOS), so Chinese text is not drawn as boxes.
///
/// Token: when the API answers 401, the page asks for a bearer token and
/// keeps it in the browser's local storage; `/#token=…` also sets it.
enum BoardPage {
    /// Nothing from elsewhere: inline scripts and styles, requests to this server only.
    static let contentSecurityPolicy =
        "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

    /// What the page is built with from the hub's config.
    struct Settings: Sendable {
        /// The zone every time on the page is shown in (the config's `timezone`).
        var timeZone = TimeZone(identifier: "Asia/Shanghai")!
        /// The config is the repository's sample (`sample: true`): the page says so in a banner.
        var sample = false
    }

    /// The page with the default settings.
    static let html: String = html(Settings())

    /// The page for a hub with these settings.
    static func html(_ settings: Settings) -> String {
        let hub = JSONValue.object([
            "time_zone": .string(settings.timeZone.identifier),
            "offset_seconds": .number(Double(settings.timeZone.secondsFromGMT(for: Date()))),
            "sample": .bool(settings.sample),
        ]).serialized
        return template.replacingOccurrences(of: "__CATEGORY_NAMES__", with: categoryNames)
            .replacingOccurrences(of: "__CASE_VOCABULARY__", with: caseVocabulary)
            .replacingOccurrences(of: "__HUB_SETTINGS__", with: hub)
    }

    /// `{"fight": "打架斗殴", …}` from the taxonomy.
    static var categoryNames: String {
        JSONValue.object(JSONObject(Dictionary(uniqueKeysWithValues: Alerts.Category.allCases.map { ($0.rawValue, JSONValue.string($0.chineseName)) }))).serialized
    }

    /// The case lifecycle's words, from the lifecycle itself: the actions
    /// (Chinese and English), which are allowed from each state (the buttons
    /// of the others are disabled; the server still decides), the outcomes and
    /// the satisfaction values of `resolve`.
    static var caseVocabulary: String {
        func pairs(_ p: [(String, String)]) -> JSONValue { .array(p.map { .array([.string($0.0), .string($0.1)]) }) }
        return JSONValue.object([
            "actions": pairs(CaseActionKind.operatorActions.map { ($0.rawValue, "\($0.chineseName) \($0.rawValue)") }),
            "allowed": .object(JSONObject(Dictionary(uniqueKeysWithValues: Case.State.allCases.map { state in
                (state.rawValue, JSONValue.array(CaseLifecycle.allowed(from: state).map { .string($0.rawValue) }))
            }))),
            "outcomes": pairs(CaseOutcome.allCases.map { ($0.rawValue, "\($0.chineseName) \($0.rawValue)") }),
            "satisfaction": pairs(CaseSatisfaction.allCases.map { ($0.rawValue, "\($0.chineseName) \($0.rawValue)") }),
        ]).serialized
    }

    private static let template = #"""
<!doctype html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>PatrolHub 指挥调度大屏 · Dispatch board</title>
<style>
:root { --bg:#0e1621; --panel:#152233; --line:#24384f; --text:#dce6f2; --muted:#8aa0b8; --accent:#4aa3ff;
        --s1:#e5484d; --s2:#f08c2e; --s3:#e8c547; --s4:#5fa8d3; --ok:#2f9e6b; }
* { box-sizing:border-box; }
body { margin:0; font:14px/1.45 "Noto Sans CJK SC","Source Han Sans SC","WenQuanYi Micro Hei","Microsoft YaHei","PingFang SC",sans-serif; background:var(--bg); color:var(--text); }
#samplebanner { display:none; padding:6px 16px; background:#6b1d1d; color:#fff; font-weight:600; }
#samplebanner.show { display:block; }
header { display:flex; align-items:center; gap:16px; padding:8px 16px; background:#0a111a; border-bottom:1px solid var(--line); }
header h1 { font-size:18px; margin:0; font-weight:600; }
header .sub { color:var(--muted); font-size:12px; }
#conn { margin-left:auto; padding:2px 10px; border-radius:10px; font-size:12px; background:#3a2a2a; }
#conn.live { background:#173b2a; color:#7ee2a8; }
#clock { color:var(--muted); font-variant-numeric:tabular-nums; }
main { display:grid; grid-template-columns:minmax(420px,1.4fr) minmax(360px,1fr); gap:12px; padding:12px; height:calc(100vh - 50px); }
section { background:var(--panel); border:1px solid var(--line); border-radius:6px; overflow:hidden; display:flex; flex-direction:column; min-height:0; }
section h2 { margin:0; padding:8px 12px; font-size:14px; border-bottom:1px solid var(--line); display:flex; gap:8px; align-items:center; }
section h2 small { color:var(--muted); font-weight:normal; }
#left { display:grid; grid-template-rows:1fr auto auto; gap:12px; min-height:0; }
#dlbody { display:grid; grid-template-columns:1fr 1fr; gap:0 12px; padding:4px 12px 8px; font-size:12px; max-height:140px; overflow:auto; }
#dlbody h3 { margin:2px 0; font-size:12px; color:var(--muted); font-weight:normal; }
#dlbody li { display:flex; justify-content:space-between; gap:8px; border-bottom:1px dashed var(--line); }
#dlbody li span:first-child { overflow:hidden; text-overflow:ellipsis; white-space:nowrap; }
#right { display:grid; grid-template-rows:minmax(150px,1fr) minmax(150px,1fr) minmax(220px,1.3fr); gap:12px; min-height:0; }
#mapbox { flex:1; position:relative; min-height:0; }
#map { width:100%; height:100%; display:block; }
#map .zone { stroke:#0e1621; stroke-width:0.6; cursor:pointer; fill:#1f3a2e; }
#map .zone:hover { stroke:#fff; stroke-width:1.5; }
#map .zone.selected { stroke:var(--accent); stroke-width:2.5; }
#map .zone.sev1 { fill:var(--s1); } #map .zone.sev2 { fill:var(--s2); } #map .zone.sev3 { fill:var(--s3); } #map .zone.sev4 { fill:var(--s4); }
#map .outline { fill:none; pointer-events:none; stroke:#9fb4cc; }
#map .outline.street { stroke-width:1.6; } #map .outline.community { stroke-width:0.8; stroke-dasharray:3 2; } #map .outline.district { stroke-width:2.4; }
#map text { fill:#fff; font-size:11px; pointer-events:none; text-anchor:middle; paint-order:stroke; stroke:#000; stroke-width:2px; }
#legend { display:flex; gap:12px; padding:6px 12px; font-size:12px; color:var(--muted); border-top:1px solid var(--line); flex-wrap:wrap; }
#legend i { display:inline-block; width:12px; height:12px; border-radius:2px; margin-right:4px; vertical-align:-2px; }
#zoneinfo { padding:6px 12px; font-size:12px; color:var(--muted); border-top:1px solid var(--line); min-height:28px; }
ol, ul { list-style:none; margin:0; padding:0; overflow:auto; flex:1; }
.row { padding:6px 12px; border-bottom:1px solid var(--line); display:grid; grid-template-columns:64px 64px 1fr; gap:8px; cursor:pointer; }
.row:hover { background:#1b2c41; }
.row.fresh { animation:flash 2s ease-out; }
@keyframes flash { from { background:#2b4a6b; } to { background:transparent; } }
.row time { color:var(--muted); font-variant-numeric:tabular-nums; }
.badge { font-size:12px; padding:0 6px; border-radius:3px; text-align:center; align-self:start; }
.k-risk_item { background:#24384f; } .k-slip { background:#4b3a16; } .k-case { background:#4b1f24; } .k-transition { background:#1f3f35; }
.sev { display:inline-block; min-width:18px; text-align:center; border-radius:3px; font-size:11px; margin-right:6px; color:#111; }
.sev.s1 { background:var(--s1); color:#fff; } .sev.s2 { background:var(--s2); } .sev.s3 { background:var(--s3); } .sev.s4 { background:var(--s4); }
.muted { color:var(--muted); }
.case-row { grid-template-columns:118px 1fr 96px; }
.case-row.selected { background:#1d3550; }
.overdue { color:var(--s1); font-weight:600; }
#detail { overflow:auto; padding:10px 12px; flex:1; }
#detail h3 { margin:0 0 6px; font-size:16px; }
#detail dl { display:grid; grid-template-columns:88px 1fr; gap:2px 10px; margin:8px 0; font-size:13px; }
#detail dt { color:var(--muted); }
#detail dd { margin:0; }
.explanation { background:#0f1b29; border-left:3px solid var(--accent); padding:8px 10px; margin:8px 0; white-space:pre-wrap; }
#actions { display:flex; flex-wrap:wrap; gap:6px; margin:8px 0; }
#actions button { background:#22364d; color:var(--text); border:1px solid #36506e; border-radius:4px; padding:4px 10px; cursor:pointer; font:inherit; }
#actions button:hover { background:#2c4866; }
#actions button:disabled { opacity:0.35; cursor:not-allowed; }
#actions button[data-action="false-alarm"], #actions button[data-action="close"] { border-color:#6b3b3f; }
.form { display:grid; grid-template-columns:auto 1fr; gap:4px 8px; align-items:center; font-size:13px; }
.form input, .form textarea, .form select { background:#0f1b29; color:var(--text); border:1px solid var(--line); border-radius:4px; padding:4px 6px; font:inherit; }
#actionmsg { min-height:18px; font-size:12px; margin-top:4px; }
#actionmsg.err { color:#ff8a8a; } #actionmsg.ok { color:#7ee2a8; }
.timeline li { padding:3px 0; border-bottom:1px dashed var(--line); font-size:12px; }
#tokenbar { display:none; gap:8px; align-items:center; padding:8px 16px; background:#3b2d12; }
#tokenbar.show { display:flex; }
#tokenbar input { flex:1; max-width:420px; background:#0f1b29; color:var(--text); border:1px solid var(--line); padding:4px 6px; }
button.small { background:#22364d; color:var(--text); border:1px solid #36506e; border-radius:4px; padding:2px 8px; cursor:pointer; }
.filter { font-size:12px; color:var(--accent); cursor:pointer; }
.flag { font-size:11px; padding:0 4px; margin-left:4px; border-radius:3px; border:1px solid #8a6d1f; color:#f1d27a; }
</style>
</head>
<body>
<header>
  <h1>PatrolHub 指挥调度大屏</h1><span class="sub">Dispatch board · 综治中心</span>
  <span id="filter" class="filter" title="点击清除 / click to clear"></span>
  <span id="conn">连接中 connecting…</span>
  <span id="clock"></span>
  <button class="small" id="tokenbtn" title="访问令牌 / access token">令牌 Token</button>
</header>
<div id="samplebanner" role="alert">示例数据 SAMPLE DATA — 本配置为虚构辖区，不发出巡查提醒函 · this hub runs the invented sample district (sample: true): no patrol plan, no reminder letters</div>
<div id="tokenbar"><span>需要访问令牌 Access token required:</span><input id="tokeninput" type="password" autocomplete="off" placeholder="Bearer token"><button class="small" id="tokensave">保存 Save</button><span id="tokenmsg" class="muted"></span></div>
<main>
  <div id="left">
    <section>
      <h2>网格地图 Grid map <small id="mapsummary"></small></h2>
      <div id="mapbox"><svg id="map" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 1000 700" preserveAspectRatio="xMidYMid meet" role="img" aria-label="grid zones"></svg></div>
      <div id="zoneinfo" class="muted">将鼠标移到网格上查看 · hover a grid for its counts; click to filter</div>
      <div id="legend">
        <span><i style="background:var(--s1)"></i>1 特别严重 critical</span><span><i style="background:var(--s2)"></i>2 严重 major</span>
        <span><i style="background:var(--s3)"></i>3 较重 minor</span><span><i style="background:var(--s4)"></i>4 一般 info</span>
        <span><i style="background:#1f3a2e"></i>无未结风险 no open risk</span>
      </div>
    </section>
    <section id="deadletters"><h2>死信 Dead letters <small id="dlcount"></small></h2>
      <div id="dlbody"><div><h3>按原因 by reason</h3><ul id="dlreasons"></ul></div><div><h3>按来源 by source</h3><ul id="dlsources"></ul></div></div>
    </section>
  </div>
  <div id="right">
    <section><h2>实时动态 Live feed <small id="feedcount"></small></h2><ol id="feed"></ol></section>
    <section><h2>待办案件 Open cases <small id="casecount"></small></h2><ul id="cases"></ul></section>
    <section><h2>案件详情 Case detail</h2><div id="detail"><p class="muted">选择一个案件 · select a case</p></div></section>
  </div>
</main>
<script>
"use strict";
const CATEGORY = __CATEGORY_NAMES__;
const KIND = { risk_item: "风险", slip: "文书", case: "案件", transition: "流转" };
const SLIP = { warning: "预警单", reminder: "提醒函", supervision: "督办令" };
const STATE = { new: "新建 new", acknowledged: "已确认 acknowledged", assigned: "已指派 assigned", in_progress: "处置中 in progress",
  on_hold: "挂起 on hold", resolved: "已办结 resolved", closed: "已关闭 closed", false_alarm: "误报 false alarm", reopened: "重新打开 reopened",
  open: "未结 open" };
const OPEN_CASE = new Set(["new", "acknowledged", "assigned", "in_progress", "on_hold", "reopened"]);
const VOCAB = __CASE_VOCABULARY__;
const FEED_MAX = 300;

const state = { token: null, zones: new Map(), cases: new Map(), selectedCase: null, zoneFilter: null, feedKeys: new Set(), live: false };
const $ = (id) => document.getElementById(id);
function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) { if (v !== null && v !== undefined) e.setAttribute(k, v); }
  for (const c of children) { if (c !== null && c !== undefined) e.append(c instanceof Node ? c : document.createTextNode(String(c))); }
  return e;
}
function cat(c) { return CATEGORY[c] ? CATEGORY[c] + " " + c : c; }
// Times are shown in the hub's zone (HUB.time_zone) with its offset, not the browser's.
const HUB = __HUB_SETTINGS__;
const HUB_FORMAT = (() => {
  try {
    return new Intl.DateTimeFormat("en-CA", { timeZone: HUB.time_zone, year: "numeric", month: "2-digit", day: "2-digit",
      hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23", timeZoneName: "longOffset" });
  } catch (e) { return null; } // a zone this browser does not know: the hub's offset at page load below
})();
function pad2(n) { return String(n).padStart(2, "0"); }
function hubParts(d) {
  if (HUB_FORMAT) {
    const o = {};
    for (const p of HUB_FORMAT.formatToParts(d)) o[p.type] = p.value;
    const z = (o.timeZoneName || "").replace("GMT", "");
    o.offset = z === "" ? "+00:00" : z;
    return o;
  }
  const t = new Date(d.getTime() + HUB.offset_seconds * 1000), off = Math.abs(HUB.offset_seconds);
  return { year: String(t.getUTCFullYear()), month: pad2(t.getUTCMonth() + 1), day: pad2(t.getUTCDate()), hour: pad2(t.getUTCHours()),
    minute: pad2(t.getUTCMinutes()), second: pad2(t.getUTCSeconds()),
    offset: (HUB.offset_seconds < 0 ? "-" : "+") + pad2(Math.floor(off / 3600)) + ":" + pad2(Math.floor(off % 3600 / 60)) };
}
function fmtHub(d) { const o = hubParts(d); return o.year + "-" + o.month + "-" + o.day + " " + o.hour + ":" + o.minute + ":" + o.second + " " + o.offset; }
function fmtTime(s) { if (!s) return ""; const d = new Date(s); if (isNaN(d)) return s; const o = hubParts(d); return o.hour + ":" + o.minute + ":" + o.second; }
function fmtDate(s) { if (!s) return "—"; const d = new Date(s); return isNaN(d) ? s : fmtHub(d); }
function sev(n) { return n ? el("span", { class: "sev s" + n, title: "severity " + n }, n) : null; }
function zoneName(code) { const z = state.zones.get(code); return z ? z.name + " (" + code + ")" : code; }
function inFilter(zone) {
  if (!state.zoneFilter || !zone) return true;
  for (let c = zone; c; c = state.zones.get(c) && state.zones.get(c).parent) { if (c === state.zoneFilter) return true; }
  return false;
}

// ---- access token ----
function loadToken() {
  const m = location.hash.match(/token=([^&]+)/);
  if (m) { localStorage.setItem("patrolhub.token", decodeURIComponent(m[1])); history.replaceState(null, "", location.pathname); }
  state.token = localStorage.getItem("patrolhub.token");
}
function askToken(message) { $("tokenbar").classList.add("show"); $("tokenmsg").textContent = message || ""; }
$("tokenbtn").onclick = () => askToken("");
$("tokensave").onclick = () => { localStorage.setItem("patrolhub.token", $("tokeninput").value.trim()); location.reload(); };

async function api(path, options) {
  const o = Object.assign({ headers: {} }, options || {});
  if (state.token) o.headers["Authorization"] = "Bearer " + state.token;
  const r = await fetch(path, o);
  if (r.status === 401) { askToken("令牌无效或缺失 · missing or unknown token"); throw new Error("401"); }
  const body = await r.json().catch(() => null);
  if (!r.ok) { throw new Error((body && body.error && body.error.message) || ("HTTP " + r.status)); }
  return body;
}

// ---- map ----
function project(zones) {
  let minLon = 180, maxLon = -180, minLat = 90, maxLat = -90;
  for (const z of zones) for (const poly of (z.geometry && z.geometry.coordinates) || []) for (const ring of poly) for (const [lon, lat] of ring) {
    minLon = Math.min(minLon, lon); maxLon = Math.max(maxLon, lon); minLat = Math.min(minLat, lat); maxLat = Math.max(maxLat, lat);
  }
  const k = Math.cos(((minLat + maxLat) / 2) * Math.PI / 180);
  const w = Math.max((maxLon - minLon) * k, 1e-9), h = Math.max(maxLat - minLat, 1e-9);
  const W = 1000, H = Math.max(200, Math.round(W * h / w));
  const s = Math.min((W - 20) / w, (H - 20) / h);
  return { W, H, p: ([lon, lat]) => [10 + (lon - minLon) * k * s, 10 + (maxLat - lat) * s] };
}
function pathOf(geometry, p) {
  let d = "";
  for (const poly of geometry.coordinates) for (const ring of poly) {
    ring.forEach((pt, i) => { const [x, y] = p(pt); d += (i ? "L" : "M") + x.toFixed(1) + " " + y.toFixed(1); });
    d += "Z";
  }
  return d;
}
function centroid(geometry, p) {
  let x = 0, y = 0, n = 0;
  for (const pt of geometry.coordinates[0][0]) { const [a, b] = p(pt); x += a; y += b; n++; }
  return [x / n, y / n];
}
function drawMap(zones) {
  const svg = $("map");
  svg.textContent = "";
  const shaped = zones.filter((z) => z.geometry && z.geometry.coordinates && z.geometry.coordinates.length);
  if (!shaped.length) { svg.append(svgEl("text", { x: 500, y: 350 }, "未配置网格 · no zone file configured")); return; }
  const { W, H, p } = project(shaped);
  svg.setAttribute("viewBox", "0 0 " + W + " " + H);
  const finest = shaped.some((z) => z.level === "grid") ? "grid" : shaped.some((z) => z.level === "community") ? "community" : "street";
  for (const z of shaped.filter((z) => z.level === finest)) {
    const path = svgEl("path", { d: pathOf(z.geometry, p), class: "zone", "data-zone": z.code, "data-level": z.level, "fill-rule": "evenodd" });
    path.append(svgEl("title", {}, z.name + " " + z.code));
    path.addEventListener("mouseenter", () => showZone(z.code));
    path.addEventListener("click", () => setZoneFilter(state.zoneFilter === z.code ? null : z.code));
    svg.append(path);
  }
  for (const level of ["community", "street", "district"]) {
    if (level === finest) continue;
    for (const z of shaped.filter((z) => z.level === level)) svg.append(svgEl("path", { d: pathOf(z.geometry, p), class: "outline " + level, "data-outline": z.code, "fill-rule": "evenodd" }));
  }
  for (const z of shaped.filter((z) => z.level === "street")) {
    const [x, y] = centroid(z.geometry, p);
    svg.append(svgEl("text", { x: x.toFixed(1), y: y.toFixed(1) }, z.name));
  }
  colourMap();
}
function svgEl(tag, attrs, text) {
  const e = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}
function colourMap() {
  let open = 0, cases = 0;
  for (const path of document.querySelectorAll("#map .zone")) {
    const z = state.zones.get(path.dataset.zone);
    const c = (z && z.counts) || {};
    path.classList.remove("sev1", "sev2", "sev3", "sev4");
    if (c.max_severity && (c.open_risk_items > 0 || c.open_cases > 0)) path.classList.add("sev" + c.max_severity);
    path.setAttribute("data-open", c.open_risk_items || 0);
    path.classList.toggle("selected", state.zoneFilter === path.dataset.zone);
    path.style.fillOpacity = c.open_risk_items || c.open_cases ? Math.min(1, 0.55 + 0.1 * ((c.open_risk_items || 0) + (c.open_cases || 0))) : 0.6;
  }
  for (const z of state.zones.values()) if (!z.parent) { open += z.counts.open_risk_items; cases += z.counts.open_cases; }
  $("mapsummary").textContent = "未结风险 open risk items " + open + " · 未结案件 open cases " + cases;
}
function showZone(code) {
  const z = state.zones.get(code);
  if (!z) return;
  const c = z.counts;
  $("zoneinfo").textContent = z.name + " " + z.code + " · " + (z.unit || "") + (z.worker ? " · 网格员 " + z.worker : "") +
    " · 风险 " + c.open_risk_items + (c.suppressed_risk_items ? " (静默 " + c.suppressed_risk_items + ")" : "") + " · 案件 " + c.open_cases + " · 文书 " + c.open_slips;
}
async function loadZones(withGeometry) {
  const r = await api("/api/v1/zones" + (withGeometry ? "" : "?geometry=false"));
  for (const z of r.items) {
    const old = state.zones.get(z.code);
    if (old && !withGeometry) { old.counts = z.counts; } else { state.zones.set(z.code, z); }
  }
  return r.items;
}
let zoneRefresh = null;
function refreshZonesSoon() {
  if (zoneRefresh) return;
  zoneRefresh = setTimeout(async () => { zoneRefresh = null; try { await loadZones(false); colourMap(); } catch (e) {} }, 1000);
}
function setZoneFilter(code) {
  state.zoneFilter = code;
  $("filter").textContent = code ? "筛选 filter: " + zoneName(code) + " ✕" : "";
  colourMap();
  for (const li of document.querySelectorAll("#feed li, #cases li")) li.hidden = !inFilter(li.dataset.zone);
}
$("filter").onclick = () => setZoneFilter(null);

// ---- feed ----
const CLOSE_REASON = { items_closed: "风险已结束 items closed", items_quiet: "风险已平息 items quiet", case_closed: "案件已归档 case closed",
  case_false_alarm: "案件误报 case false alarm", repeated: "已重新下发 repeated" };
// What is odd about a risk item: late, placed by another rule than its reported location, timed by the hub.
function flags(o) {
  const out = [];
  if (o.late) out.push(el("span", { class: "flag flag-late", title: o.late_reason || "" }, "迟到 late"));
  if (o.location_mismatch) out.push(el("span", { class: "flag flag-location", title: o.location_mismatch }, "位置不符 location mismatch"));
  if (o.time_source === "received") out.push(el("span", { class: "flag flag-time", title: "设备时钟未设置，按接收时间 device clock unset: hub receive time" }, "接收时间 received time"));
  return out;
}
function describe(kind, o) {
  switch (kind) {
    case "risk_item": return [sev(o.severity), cat(o.category), " · " + zoneName(o.zone), " · " + o.source,
      o.occurrences > 1 ? " ×" + o.occurrences : "", o.suppressed_by ? el("span", { class: "muted" }, " 静默 muted") : "", o.state === "closed" ? el("span", { class: "muted" }, " 已结束 closed") : "", ...flags(o)];
    case "slip": return [sev(o.severity), (SLIP[o.kind] || o.kind) + " " + o.id + " · " + cat(o.category), " · " + zoneName(o.zone), o.unit ? " → " + o.unit : "",
      o.state === "closed" ? el("span", { class: "muted", title: o.closed_at || "" }, " 已关闭 closed" + (o.close_reason ? " · " + (CLOSE_REASON[o.close_reason] || o.close_reason) : "")) : ""];
    case "case": return [sev(o.severity), o.id + " " + cat(o.category), " · " + (STATE[o.state] || o.state), " · " + zoneName(o.zone)];
    case "transition": return [o.case_id + " " + (STATE[o.from] || o.from) + " → " + (STATE[o.to] || o.to), " · " + o.by, o.note ? " · " + o.note : ""];
  }
  return [JSON.stringify(o)];
}
function timeOf(kind, o) { return kind === "risk_item" ? o.last_seen : kind === "slip" ? o.updated_at : kind === "case" ? o.updated_at : o.at; }
function addFeed(kind, o, fresh) {
  const id = kind === "transition" ? String(o.id) : o.id;
  const key = kind + ":" + id;
  const zone = kind === "transition" ? (state.cases.get(o.case_id) || {}).zone : o.zone;
  const li = el("li", { class: "row feed-row" + (fresh ? " fresh" : ""), "data-kind": kind, "data-id": id, "data-zone": zone },
    el("time", { datetime: timeOf(kind, o), title: fmtDate(timeOf(kind, o)) }, fmtTime(timeOf(kind, o))), el("span", { class: "badge k-" + kind }, KIND[kind]), el("span", {}, ...describe(kind, o)));
  const caseId = kind === "case" ? o.id : kind === "transition" ? o.case_id : o.case_id;
  if (caseId) li.onclick = () => selectCase(caseId);
  li.hidden = !inFilter(zone);
  const feed = $("feed");
  const old = feed.querySelector('li[data-kind="' + kind + '"][data-id="' + CSS.escape(id) + '"]');
  if (old) old.remove();
  if (fresh || !feed.firstChild) feed.prepend(li);
  else {
    const t = timeOf(kind, o) || "";
    let before = null;
    for (const c of feed.children) { if ((c.querySelector("time").getAttribute("datetime") || "") < t) { before = c; break; } }
    feed.insertBefore(li, before);
  }
  while (feed.children.length > FEED_MAX) feed.lastChild.remove();
  $("feedcount").textContent = feed.children.length + " 条";
}

// ---- cases ----
function urgency(c) { return c.severity * 1e13 + Date.parse(c.due_at); }
function renderCases() {
  const list = $("cases");
  list.textContent = "";
  const open = [...state.cases.values()].filter((c) => OPEN_CASE.has(c.state)).sort((a, b) => urgency(a) - urgency(b));
  for (const c of open) {
    const overdue = Date.parse(c.due_at) < Date.now();
    const li = el("li", { class: "row case-row" + (state.selectedCase === c.id ? " selected" : ""), "data-id": c.id, "data-zone": c.zone },
      el("span", {}, sev(c.severity), c.id), el("span", {}, cat(c.category) + " · " + zoneName(c.zone)),
      el("span", { class: overdue ? "overdue" : "muted", title: "due " + c.due_at }, (overdue ? "逾期 " : "限 ") + fmtDate(c.due_at).split(" ")[0]));
    li.onclick = () => selectCase(c.id);
    li.hidden = !inFilter(c.zone);
    list.append(li);
  }
  $("casecount").textContent = open.length + " 件";
  if (!state.selectedCase && open.length) selectCase(open[0].id);
}
async function selectCase(id) {
  state.selectedCase = id;
  for (const li of document.querySelectorAll("#cases li")) li.classList.toggle("selected", li.dataset.id === id);
  try { renderDetail(await api("/api/v1/cases/" + encodeURIComponent(id))); }
  catch (e) { $("detail").textContent = "无法读取案件 cannot read case " + id + ": " + e.message; }
}
function renderDetail(c) {
  const d = $("detail");
  d.textContent = "";
  d.dataset.case = c.id;
  const overdue = OPEN_CASE.has(c.state) && Date.parse(c.due_at) < Date.now();
  d.append(el("h3", {}, sev(c.severity), c.id + " · " + cat(c.category)));
  const dl = el("dl", {});
  const rows = [["状态 State", STATE[c.state] || c.state], ["网格 Zone", zoneName(c.zone)], ["责任单位 Unit", c.unit || "—"],
    ["牵头/协办 Team", c.lead_unit ? c.lead_unit + (c.co_units.length ? " / " + c.co_units.join("、") : "") : "—"],
    ["网格员 Worker", c.worker || "—"], ["承办人 Assignee", c.assignee || "—"], ["立案 Opened", fmtDate(c.opened_at)],
    ["期限 Due", fmtDate(c.due_at) + (overdue ? " 已逾期 overdue" : "")], ["规则 Rule", c.rule], ["来源 Sources", (c.sources || []).join(", ")]];
  if (c.outcome) rows.push(["结果 Outcome", c.outcome + (c.amount_cny ? " · ¥" + c.amount_cny : "") + (c.satisfaction ? " · " + c.satisfaction : "")]);
  for (const [k, v] of rows) { dl.append(el("dt", {}, k), el("dd", { class: k.startsWith("期限") && overdue ? "overdue" : null }, v)); }
  d.append(dl);
  d.append(el("div", { class: "explanation", id: "explanation" }, c.explanation));
  const actions = el("div", { id: "actions" });
  const allowed = new Set(VOCAB.allowed[c.state] || []);
  for (const [a, label] of VOCAB.actions) {
    const b = el("button", { type: "button", "data-action": a, disabled: allowed.has(a) ? null : "", title: allowed.has(a) ? null : "当前状态不可执行 · not allowed from " + c.state }, label);
    b.onclick = () => act(c.id, a);
    actions.append(b);
  }
  d.append(actions);
  const select = (id, options) => { const s = el("select", { id }, el("option", { value: "" }, "—")); for (const [v, t] of options) s.append(el("option", { value: v }, t)); return s; };
  const form = el("div", { class: "form" },
    el("label", { for: "act-by" }, "处理人 By"), el("input", { id: "act-by", value: localStorage.getItem("patrolhub.by") || "", placeholder: "姓名 / 工号 (有令牌时以令牌为准)" }),
    el("label", { for: "act-assignee" }, "指派给 Assignee"), el("input", { id: "act-assignee", placeholder: "单位或人员 (派遣时)" }),
    el("label", { for: "act-note" }, "备注 Note"), el("textarea", { id: "act-note", rows: 2, placeholder: "归档、误报、重新打开须填写 · required to close, false-alarm, reopen" }),
    el("label", { for: "act-outcome" }, "结案方式 Outcome"), select("act-outcome", VOCAB.outcomes),
    el("label", { for: "act-amount" }, "涉及金额 ¥"), el("input", { id: "act-amount", type: "number", min: "0", step: "0.01", placeholder: "办结时 (可选)" }),
    el("label", { for: "act-satisfaction" }, "满意度"), select("act-satisfaction", VOCAB.satisfaction));
  // The last action's outcome survives a re-render of the detail (a stream update may redraw it meanwhile).
  const shown = state.actionMsg && state.actionMsg.id === c.id ? state.actionMsg : null;
  d.append(form, el("div", { id: "actionmsg", class: shown && shown.cls ? shown.cls : null }, shown ? shown.text : ""));
  if (c.risk_items && c.risk_items.length) {
    d.append(el("h4", {}, "证据 Evidence"));
    const ul = el("ul", { class: "timeline" });
    for (const r of c.risk_items) ul.append(el("li", { "data-risk-item": r.id }, sev(r.severity), r.id + " " + cat(r.category) + " · " + r.source + " · " + fmtDate(r.first_seen) + (r.occurrences > 1 ? " ×" + r.occurrences : ""), ...flags(r)));
    d.append(ul);
  }
  if (c.slips && c.slips.length) {
    d.append(el("h4", {}, "文书 Documents"));
    const ul = el("ul", { class: "timeline" });
    for (const s of c.slips) ul.append(el("li", {}, (SLIP[s.kind] || s.kind) + " " + s.id + " · " + fmtDate(s.issued_at) + " · " + s.text +
      (s.state === "closed" ? " · 已关闭 closed " + fmtDate(s.closed_at) + (s.close_reason ? " (" + (CLOSE_REASON[s.close_reason] || s.close_reason) + ")" : "") : "")));
    d.append(ul);
  }
  d.append(el("h4", {}, "流转记录 History"));
  const tl = el("ul", { class: "timeline" });
  tl.append(el("li", {}, fmtDate(c.opened_at) + " 立案 opened"));
  for (const t of c.transitions || []) tl.append(el("li", { "data-transition": t.id }, fmtDate(t.at) + " " + t.by + ": " + (STATE[t.from] || t.from) + " → " + (STATE[t.to] || t.to) + (t.note ? " · " + t.note : "")));
  d.append(tl);
}
async function act(id, action) {
  const by = $("act-by").value.trim(), note = $("act-note").value.trim(), assignee = $("act-assignee").value.trim();
  if (by) localStorage.setItem("patrolhub.by", by);
  const show = (cls, text) => {
    state.actionMsg = { id, cls, text };
    const msg = $("actionmsg"); // the element now on the page, not the one the action started with
    if (msg) { msg.className = cls; msg.textContent = text; }
  };
  show("", "提交中 sending…");
  try {
    const body = { action, by: by || null, note: note || null, assignee: assignee || null };
    if (action === "resolve") {
      body.outcome = $("act-outcome").value || null;
      body.satisfaction = $("act-satisfaction").value || null;
      const amount = $("act-amount").value;
      body.amount_cny = amount === "" ? null : Number(amount);
    }
    await api("/api/v1/cases/" + encodeURIComponent(id) + "/actions", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
    show("ok", "已提交 done: " + action);
    await selectCase(id);
  } catch (e) { show("err", "未执行 refused: " + e.message); }
}

// ---- dead letters ----
const REASON = { unknown_source: "未登记设备", malformed: "格式错误", missing_field: "缺少字段", wrong_type: "类型错误", out_of_range: "超出范围",
  invalid_value: "取值无效", oversized: "消息过大", unknown_topic: "未知主题", unknown_checkpoint: "未知巡查点", no_route: "无路线",
  clock_skew: "时钟偏差", crashed: "导致崩溃", unprocessable: "无法处理", id_mismatch: "编号不符", too_old: "过旧" };
async function loadDeadLetters() {
  try {
    const r = await api("/api/v1/dead-letters/summary");
    // Names come from the network (a camera id, a topic): text nodes only, never HTML.
    const fill = (id, rows, label) => {
      const list = $(id); list.textContent = "";
      for (const row of rows) list.append(el("li", { title: row.name }, el("span", {}, label(row.name)), el("span", {}, row.count)));
      if (!rows.length) list.append(el("li", { class: "muted" }, "无 none"));
    };
    fill("dlreasons", r.by_reason, (n) => REASON[n] ? REASON[n] + " " + n : n);
    fill("dlsources", r.by_source, (n) => n);
    $("dlcount").textContent = "待处理 pending " + r.total;
    document.body.dataset.deadLetters = String(r.total);
  } catch (e) { $("dlcount").textContent = "无法读取 cannot read: " + e.message; }
}

// ---- stream ----
function connect() {
  const es = new EventSource("/api/v1/stream" + (state.token ? "?access_token=" + encodeURIComponent(state.token) : ""));
  const conn = $("conn");
  es.addEventListener("ready", (ev) => {
    // Back after changes were pruned from the log: the lists are stale, load them afresh.
    if (JSON.parse(ev.data).missed) { location.reload(); return; }
    conn.textContent = "实时 live"; conn.className = "live"; state.live = true; document.body.dataset.stream = "live";
  });
  es.onerror = () => { conn.textContent = "重连中 reconnecting…"; conn.className = ""; state.live = false; };
  for (const kind of ["risk_item", "slip", "case", "transition"]) {
    es.addEventListener(kind, (ev) => {
      const e = JSON.parse(ev.data);
      addFeed(kind, e.object, true);
      if (kind === "case") { state.cases.set(e.object.id, e.object); renderCases(); if (state.selectedCase === e.object.id) selectCase(e.object.id); }
      if (kind === "transition" && state.selectedCase === e.object.case_id) selectCase(e.object.case_id);
      refreshZonesSoon();
    });
  }
}

async function start() {
  loadToken();
  if (HUB.sample) { $("samplebanner").classList.add("show"); document.body.dataset.sample = "true"; }
  const tick = () => { $("clock").textContent = fmtHub(new Date()); };
  tick();
  setInterval(tick, 1000);
  $("clock").title = "时区 time zone: " + HUB.time_zone;
  try { await api("/api/v1/zones?level=district&geometry=false"); } catch (e) { if (e.message === "401") return; }
  connect(); // first, so nothing between the lists and the stream is missed (the feed merges by id)
  loadDeadLetters();
  setInterval(loadDeadLetters, 10000); // dead letters are not on the stream
  try { drawMap(await loadZones(true)); } catch (e) { $("zoneinfo").textContent = "无法读取网格 cannot read zones: " + e.message; }
  try {
    const [items, slips, cases] = await Promise.all([api("/api/v1/risk-items?limit=100"), api("/api/v1/slips?limit=50"), api("/api/v1/cases?state=open&limit=500")]);
    for (const c of cases.items) state.cases.set(c.id, c);
    for (const o of items.items) addFeed("risk_item", o, false);
    for (const o of slips.items) addFeed("slip", o, false);
    for (const o of cases.items) addFeed("case", o, false);
    renderCases();
    document.body.dataset.loaded = "true";
  } catch (e) { $("feedcount").textContent = "无法读取 cannot read: " + e.message; }
}
start();
</script>
</body>
</html>
"""#
}
