#!/usr/bin/env python3
"""Generates the invented sample registry for PatrolHub: zones.geojson,
cameras.csv and devices.csv for a district modelled loosely on Lhasa's
Chengguan district (城关区, 540102). All codes, boundaries, units, workers
and devices are INVENTED for testing and demos; they are not real
administrative data.

Deterministic: run `python3 config/generate_sample.py` from the package root
(or anywhere) and the same files come out.

Layout: a jittered lattice of 19 x 13 points covers the three streets; every
street, community and grid is a rectangle in lattice indices, walked along
the jittered lattice, so neighbours share their borders vertex for vertex and
grids tile their communities exactly. One community (八廓社区) and one of its
grids have a hole (the temple compound), one community (扎细社区) is a
MultiPolygon with an exclave, and part of 吉日街道 (a park) belongs to no
community. The district outline is written in GCJ-02 (as if traced on an
Amap base map) and is converted to WGS-84 on import.
"""
import json
import math
import os
import random

HERE = os.path.dirname(os.path.abspath(__file__))
NX, NY = 18, 12
LON0, LAT0 = 91.10, 29.635
DX, DY = 0.005, 0.04 / 12
rng = random.Random(540102)

# Jittered lattice; the outer boundary stays straight.
P = {}
for i in range(NX + 1):
    for j in range(NY + 1):
        jx = 0 if i in (0, NX) else rng.uniform(-0.25, 0.25) * DX
        jy = 0 if j in (0, NY) else rng.uniform(-0.25, 0.25) * DY
        P[i, j] = (round(LON0 + i * DX + jx, 7), round(LAT0 + j * DY + jy, 7))


def rect(i0, i1, j0, j1):
    """Counter-clockwise closed ring along the lattice around an index rectangle."""
    pts = [P[i, j0] for i in range(i0, i1)]
    pts += [P[i1, j] for j in range(j0, j1)]
    pts += [P[i, j1] for i in range(i1, i0, -1)]
    pts += [P[i0, j] for j in range(j1, j0, -1)]
    return [list(p) for p in pts] + [list(pts[0])]


def octagon(cx, cy, rx, ry):
    """Clockwise closed ring (a hole, per RFC 7946 winding)."""
    pts = [[round(cx + rx * math.cos(-k * math.pi / 4), 7), round(cy + ry * math.sin(-k * math.pi / 4), 7)]
           for k in range(8)]
    return pts + [pts[0]]


# The temple compound: a hole in 八廓社区 and in its grid 02.
hx = (P[4, 5][0] + P[5, 5][0]) / 2
hy = (P[4, 5][1] + P[5, 5][1]) / 2
HOLE = octagon(hx, hy, 0.25 * DX, 0.25 * DY)
EXCLAVE = (8, 10, 10, 11)

# --- WGS-84 -> GCJ-02 -> BD-09 (the published forward formulas) ---
A, EE = 6378245.0, 0.00669342162296594323


def _tlat(x, y):
    r = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * math.sqrt(abs(x))
    r += (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    r += (20.0 * math.sin(y * math.pi) + 40.0 * math.sin(y / 3.0 * math.pi)) * 2.0 / 3.0
    r += (160.0 * math.sin(y / 12.0 * math.pi) + 320 * math.sin(y * math.pi / 30.0)) * 2.0 / 3.0
    return r


def _tlon(x, y):
    r = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * math.sqrt(abs(x))
    r += (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    r += (20.0 * math.sin(x * math.pi) + 40.0 * math.sin(x / 3.0 * math.pi)) * 2.0 / 3.0
    r += (150.0 * math.sin(x / 12.0 * math.pi) + 300.0 * math.sin(x / 30.0 * math.pi)) * 2.0 / 3.0
    return r


def wgs_to_gcj(lon, lat):
    dlat = _tlat(lon - 105.0, lat - 35.0)
    dlon = _tlon(lon - 105.0, lat - 35.0)
    rad = lat / 180.0 * math.pi
    magic = 1 - EE * math.sin(rad) ** 2
    sm = math.sqrt(magic)
    dlat = (dlat * 180.0) / ((A * (1 - EE)) / (magic * sm) * math.pi)
    dlon = (dlon * 180.0) / (A / sm * math.cos(rad) * math.pi)
    return lon + dlon, lat + dlat


def gcj_to_bd(lon, lat):
    xpi = math.pi * 3000.0 / 180.0
    z = math.sqrt(lon * lon + lat * lat) + 0.00002 * math.sin(lat * xpi)
    t = math.atan2(lat, lon) + 0.000003 * math.cos(lon * xpi)
    return z * math.cos(t) + 0.0065, z * math.sin(t) + 0.006


# --- The hierarchy ---
DISTRICT = "540102"
STREETS = [
    ("001", "八廓街道", (0, 6), [
        ("001", "冲赛康社区", (0, 4), [(0, 2, 0, 4), (2, 4, 0, 4), (4, 6, 0, 4)]),
        ("002", "八廓社区", (4, 8), [(0, 3, 4, 6), (3, 6, 4, 6), (0, 3, 6, 8), (3, 6, 6, 8)]),
        ("003", "鲁固社区", (8, 12), [(0, 2, 8, 10), (2, 4, 8, 10), (4, 6, 8, 10), (0, 3, 10, 12), (3, 6, 10, 12)]),
    ]),
    ("002", "吉日街道", (6, 12), [
        ("001", "吉日社区", (0, 5), [(6, 9, 0, 2), (9, 12, 0, 2), (6, 9, 2, 5), (9, 12, 2, 5)]),
        ("002", "扎细社区", (5, 9), [(6, 8, 5, 9), (8, 10, 5, 9), (10, 12, 5, 9), EXCLAVE]),
    ]),
    ("003", "吉崩岗街道", (12, 18), [
        ("001", "吉崩岗社区", (0, 4), [(12, 14, 0, 4), (14, 16, 0, 4), (16, 18, 0, 4)]),
        ("002", "丹杰林社区", (4, 8), [(12, 15, 4, 6), (15, 18, 4, 6), (12, 15, 6, 8), (15, 18, 6, 8)]),
        ("003", "雪新村社区", (8, 12), [(12, 15, 8, 10), (15, 18, 8, 10), (12, 14, 10, 12), (14, 18, 10, 12)]),
    ]),
]
DISTRICT_OUTLINE = [(91.092, 29.630), (91.14, 29.626), (91.198, 29.629), (91.201, 29.655),
                    (91.197, 29.681), (91.15, 29.684), (91.095, 29.682), (91.088, 29.656)]


def feature(props, geometry):
    return {"type": "Feature", "properties": props, "geometry": geometry}


features = []
district_ring = [[round(c, 7) for c in wgs_to_gcj(lon, lat)] for lon, lat in DISTRICT_OUTLINE]
district_ring.append(district_ring[0])
features.append(feature({"code": DISTRICT, "name": "城关区", "level": "district", "unit": "城关区综治中心",
                         "crs": "gcj02"}, {"type": "Polygon", "coordinates": [district_ring]}))
grids = []  # (code, ring(s), unit, worker)
worker = 0
for scode, sname, (si0, si1), communities in STREETS:
    street = f"{DISTRICT}-{scode}"
    sunit = f"{sname}综治中心"
    features.append(feature({"code": street, "name": sname, "level": "street", "parent": DISTRICT, "unit": sunit},
                            {"type": "Polygon", "coordinates": [rect(si0, si1, 0, NY)]}))
    for ccode, cname, (cj0, cj1), cells in communities:
        community = f"{street}-{ccode}"
        cunit = cname.replace("社区", "社区居委会")
        if cname == "扎细社区":
            geom = {"type": "MultiPolygon", "coordinates": [[rect(si0, si1, cj0, cj1)], [rect(*EXCLAVE)]]}
        elif cname == "八廓社区":
            geom = {"type": "Polygon", "coordinates": [rect(si0, si1, cj0, cj1), HOLE]}
        else:
            geom = {"type": "Polygon", "coordinates": [rect(si0, si1, cj0, cj1)]}
        features.append(feature({"code": community, "name": cname, "level": "community", "parent": street,
                                 "unit": cunit}, geom))
        for g, cell in enumerate(cells, start=1):
            worker += 1
            code = f"{community}-{g:02d}"
            rings = [rect(*cell)]
            if cname == "八廓社区" and g == 2:
                rings.append(HOLE)
            props = {"code": code, "name": f"{cname}第{g}网格", "level": "grid", "parent": community,
                     "unit": cunit, "worker": f"gw-{worker:03d}"}
            features.append(feature(props, {"type": "Polygon", "coordinates": rings}))
            grids.append((code, rings, cunit, f"gw-{worker:03d}", cell))

collection = {
    "type": "FeatureCollection",
    "_comment": "INVENTED sample data for tests and demos (generated by config/generate_sample.py); "
                "codes, boundaries, units and workers are not real administrative data.",
    "features": features,
}
with open(os.path.join(HERE, "zones.geojson"), "w", encoding="utf-8") as f:
    f.write("{\n")
    f.write(f'"type": "FeatureCollection",\n"_comment": {json.dumps(collection["_comment"], ensure_ascii=False)},\n')
    f.write('"features": [\n')
    f.write(",\n".join(json.dumps(ft, ensure_ascii=False) for ft in features))
    f.write("\n]\n}\n")


# --- Cameras: random points well inside a grid (>= 20 m from every ring) ---
def inside(ring, x, y):
    c = False
    for (ax, ay), (bx, by) in zip(ring, ring[1:]):
        if (ay > y) != (by > y) and x < ax + (y - ay) * (bx - ax) / (by - ay):
            c = not c
    return c


def metres_to_edges(rings, x, y):
    kx = 111195.0 * math.cos(math.radians(y))
    ky = 111195.0
    best = 1e18
    for ring in rings:
        for (ax, ay), (bx, by) in zip(ring, ring[1:]):
            ax2, ay2, bx2, by2 = (ax - x) * kx, (ay - y) * ky, (bx - x) * kx, (by - y) * ky
            dx, dy = bx2 - ax2, by2 - ay2
            t = max(0.0, min(1.0, -(ax2 * dx + ay2 * dy) / (dx * dx + dy * dy)))
            best = min(best, math.hypot(ax2 + t * dx, ay2 + t * dy))
    return best


PLACES = ["路口", "商场门口", "广场", "巷口", "停车场", "学校门口", "菜市场", "公交站"]
cams = []
for n in range(1, 41):
    code, rings, unit, _, cell = grids[(n * 7) % len(grids)]
    while True:
        x = rng.uniform(P[cell[0], cell[2]][0] - DX, P[cell[1], cell[3]][0] + DX)
        y = rng.uniform(P[cell[0], cell[2]][1] - DY, P[cell[1], cell[3]][1] + DY)
        in_grid = inside(rings[0], x, y) and not any(inside(h, x, y) for h in rings[1:])
        if in_grid and metres_to_edges(rings, x, y) >= 20:
            break
    crs = "gcj02" if n % 8 == 0 else ("bd09" if n % 13 == 0 else "wgs84")
    lon, lat = x, y
    if crs != "wgs84":
        lon, lat = wgs_to_gcj(lon, lat)
        if crs == "bd09":
            lon, lat = gcj_to_bd(lon, lat)
    zone = code if n % 7 == 0 else ""
    name = f"{unit.replace('社区居委会', '')}{PLACES[n % len(PLACES)]}{n:02d}"
    cams.append((f"cam-{n:03d}", name, f"{lat:.7f}", f"{lon:.7f}", crs, zone, code))

with open(os.path.join(HERE, "cameras.csv"), "w", encoding="utf-8") as f:
    f.write("# INVENTED sample data (config/generate_sample.py): not real camera sites. zone is optional.\n")
    f.write("id,name,lat,lon,crs,zone\n")
    for c in cams:
        f.write(",".join(c[:6]) + "\n")

with open(os.path.join(HERE, "devices.csv"), "w", encoding="utf-8") as f:
    f.write("# INVENTED sample data (config/generate_sample.py): not real devices or workers.\n")
    f.write("id,worker,unit,zone\n")
    for n, (code, _, unit, w, _) in enumerate(grids, start=1):
        f.write(f"dev-{n:03d},{w},{unit},{code}\n")

# --- Patrol plan: 3 checkpoints inside every grid (>= 25 m from its border), one route per device ---
prng = random.Random(5401025)
CP_PLACES = ["北口", "商铺街", "小区门岗", "广场", "学校门口", "巷道", "停车场", "河边步道"]
plan_cps = []     # (id, name, zone, lat, lon, radius)
plan_routes = []  # (id, name, worker, device, [(cp, offset)], schedule lines)
for n, (code, rings, unit, w, cell) in enumerate(grids, start=1):
    community = unit.replace("社区居委会", "")
    g = int(code.rsplit("-", 1)[1])
    ids = []
    for k in range(3):
        while True:
            x = prng.uniform(P[cell[0], cell[2]][0] - DX, P[cell[1], cell[3]][0] + DX)
            y = prng.uniform(P[cell[0], cell[2]][1] - DY, P[cell[1], cell[3]][1] + DY)
            in_grid = inside(rings[0], x, y) and not any(inside(h, x, y) for h in rings[1:])
            if in_grid and metres_to_edges(rings, x, y) >= 25:
                break
        cid = f"cp-{n:03d}-{k + 1}"
        place = CP_PLACES[(n + k * 3) % len(CP_PLACES)]
        plan_cps.append((cid, f"{community}第{g}网格{place}", code, round(y, 7), round(x, 7), 30 if k == 0 else 50))
        ids.append(cid)
    if n % 4 == 0:
        schedule = ['      times: ["09:00", "14:30", "20:00"]']
    elif n % 4 == 1:
        schedule = ["      every_minutes: 120", '      from: "08:00"', '      to: "18:00"']
    elif n % 4 == 2:
        schedule = ["      every_minutes: 180", '      from: "08:30"', '      to: "17:30"', "      days: [mon, tue, wed, thu, fri]"]
    else:
        schedule = ["      every_minutes: 240", '      from: "07:00"', '      to: "19:00"']
    plan_routes.append((f"rt-{n:03d}", f"{community}第{g}网格日常巡查", w, f"dev-{n:03d}",
                        [(ids[0], 0), (ids[1], 15), (ids[2], 30)], schedule))

with open(os.path.join(HERE, "patrol.yaml"), "w", encoding="utf-8") as f:
    f.write("""# PatrolHub patrol plan (config/patrol.yaml): checkpoints and routes.
# INVENTED sample data (config/generate_sample.py): not real places or workers.
#
# A route's rounds start at its schedule's times (every_minutes from/to, both
# inclusive, or fixed times), on its days (default: every day), in the hub's
# timezone. Each stop is due at the round start + offset_minutes. A check-in
# from early_minutes before the due time to grace_minutes after it is on time,
# up to window_minutes after it late; nothing by due + grace is missed
# (a missed_checkpoint risk item and a reminder letter to the worker's unit).

# effective_from: 2025-01-01     # slots before this day never exist (default: from the hub's first run)

scheduler:
  tick_seconds: 30               # how often the hub looks for slots whose grace has ended
  settle_seconds: 15             # after a start, wait this long (and for the inbox to drain) first

defaults:                        # for every checkpoint / route that does not say otherwise
  radius_m: 50                   # a check-in farther than this from the checkpoint is flagged outside_radius
  early_minutes: 10
  grace_minutes: 15
  window_minutes: 60

checkpoints:
""")
    for cid, name, zone, lat, lon, radius in plan_cps:
        f.write(f"  - id: {cid}\n    name: {name}\n    zone: {zone}\n")
        f.write(f"    location: {{lat: {lat:.7f}, lon: {lon:.7f}, crs: wgs84}}\n")
        if radius != 50:
            f.write(f"    radius_m: {radius}\n")
    f.write("\nroutes:\n")
    for rid, name, w, dev, stops, schedule in plan_routes:
        f.write(f"  - id: {rid}\n    name: {name}\n    worker: {w}\n    device: {dev}\n    checkpoints:\n")
        for cid, off in stops:
            f.write(f"      - {{id: {cid}, offset_minutes: {off}}}\n")
        f.write("    schedule:\n" + "\n".join(schedule) + "\n")


# Reference points for the tests (WGS-84), printed for convenience.
if __name__ == "__main__":
    print("hole centre (temple):", round(hx, 7), round(hy, 7))
    ex = [(P[8, 10][0] + P[10, 11][0]) / 2, (P[8, 10][1] + P[10, 11][1]) / 2]
    print("exclave centre:", [round(v, 7) for v in ex])
    print("park (street only):", P[11, 11])
    print("lattice P[3,5]:", P[3, 5], "P[6,5]:", P[6, 5], "P[2,2]", P[2, 2], "P[2,4]", P[2, 4], "P[4,4]", P[4, 4])
    print("cameras (truth):")
    for c in cams:
        print(" ", c[0], c[4], c[6])
    print(len(features), "features,", len(grids), "grids")
