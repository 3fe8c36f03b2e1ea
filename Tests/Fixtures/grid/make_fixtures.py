#!/usr/bin/env python3
"""Writes the small GeoJSON fixtures of the zone tests (deterministic).
Coordinates are invented; the shapes are chosen so each file shows one problem."""
import json, os

HERE = os.path.dirname(os.path.abspath(__file__))


def box(x0, y0, x1, y1):
    return [[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]


def hole(x0, y0, x1, y1):  # clockwise
    return [[x0, y0], [x0, y1], [x1, y1], [x1, y0], [x0, y0]]


def f(code, level, rings, parent=None, name=None, multi=False, **extra):
    props = {"code": code, "name": name or code, "level": level}
    if parent:
        props["parent"] = parent
    props.update(extra)
    geom = {"type": "MultiPolygon", "coordinates": rings} if multi else {"type": "Polygon", "coordinates": rings}
    return {"type": "Feature", "properties": props, "geometry": geom}


def write(name, features):
    with open(os.path.join(HERE, name), "w", encoding="utf-8") as fh:
        json.dump({"type": "FeatureCollection", "_comment": "invented test fixture", "features": features},
                  fh, ensure_ascii=False, indent=1)


D = f("540102", "district", [box(91.00, 29.60, 91.20, 29.70)], unit="城关区综治中心")
S1 = f("540102-001", "street", [box(91.00, 29.60, 91.10, 29.68)], "540102", unit="八廓街道综治中心")
S2 = f("540102-002", "street", [box(91.10, 29.60, 91.20, 29.68)], "540102", unit="吉日街道综治中心")
C11 = f("540102-001-001", "community",
        [box(91.00, 29.60, 91.10, 29.65), hole(91.02, 29.62, 91.03, 29.63)], "540102-001")
G111 = f("540102-001-001-01", "grid", [box(91.00, 29.60, 91.05, 29.65), hole(91.02, 29.62, 91.03, 29.63)],
         "540102-001-001", unit="冲赛康社区居委会", worker="gw-001")
G112 = f("540102-001-001-02", "grid", [box(91.05, 29.60, 91.10, 29.65)], "540102-001-001", worker="gw-002")
C12 = f("540102-001-002", "community", [box(91.00, 29.65, 91.10, 29.68)], "540102-001")
G121 = f("540102-001-002-01", "grid", [box(91.00, 29.65, 91.05, 29.68)], "540102-001-002", worker="gw-003")
C21 = f("540102-002-001", "community",
        [[box(91.10, 29.60, 91.15, 29.64)], [box(91.17, 29.66, 91.19, 29.67)]], "540102-002", multi=True)
G211 = f("540102-002-001-01", "grid",
         [[box(91.10, 29.60, 91.15, 29.64)], [box(91.17, 29.66, 91.19, 29.67)]], "540102-002-001", multi=True,
         worker="gw-004")
VALID = [D, S1, S2, C11, G111, G112, C12, G121, C21, G211]
# File order must not matter: write them shuffled.
write("valid_small.geojson", [VALID[i] for i in (5, 0, 9, 3, 1, 7, 4, 2, 8, 6)])

write("err_unclosed.geojson", [D, S1, f("540102-001-001", "community",
                                         [box(91.00, 29.60, 91.10, 29.65)[:-1] + [[91.00, 29.61]]], "540102-001")])
write("err_too_short.geojson", [D, S1, f("540102-001-001", "community",
                                          [[[91.00, 29.60], [91.10, 29.60], [91.00, 29.60]]], "540102-001")])
write("err_self_intersection.geojson", [D, S1, f("540102-001-001", "community",
                                                  [[[91.00, 29.60], [91.10, 29.65], [91.10, 29.60],
                                                    [91.00, 29.65], [91.00, 29.60]]], "540102-001")])
bad_lat = f("540102-001-001", "community", [[[91.00, 29.60], [91.10, 95.0], [91.10, 29.65], [91.00, 29.60]]],
            "540102-001")
nan = f("540102-001-002", "community", [[[91.00, 29.65], ["NaN", 29.65], [91.10, 29.68], [91.00, 29.65]]],
        "540102-001")
lon200 = f("540102-001-003", "community", [[[200.0, 29.65], [91.10, 29.65], [91.10, 29.68], [200.0, 29.65]]],
           "540102-001")
write("err_coordinates.geojson", [D, S1, bad_lat, nan, lon200])
write("err_duplicate_code.geojson", [D, S1, f("540102-001", "street", [box(91.10, 29.60, 91.20, 29.68)], "540102")])
write("err_unknown_parent.geojson", [D, S1, f("540102-001-001", "community", [box(91.00, 29.60, 91.10, 29.65)],
                                              "540102-009")])
write("err_level_order.geojson", [D, S1, f("540102-001-001-01", "grid", [box(91.00, 29.60, 91.05, 29.65)],
                                           "540102-001"),
                                  f("540102-009", "district", [box(91.30, 29.60, 91.40, 29.70)], "540102")])
# The community reaches 0.001° (about 97 m) east of its street; 0.00003° (about 3 m) north is tolerated.
write("err_outside_parent.geojson", [D, S1, f("540102-001-001", "community",
                                              [box(91.00, 29.60, 91.101, 29.65)], "540102-001"),
                                     f("540102-001-002", "community",
                                       [box(91.00, 29.65, 91.05, 29.68003)], "540102-001")])
# Grid 02 overlaps grid 01 (0.01° x 0.03°) and grid 03 (0.01° x 0.02°);
# grids 01 and 03 only share a border, which is fine.
write("err_overlap.geojson", [D, S1, f("540102-001-001", "community", [box(91.00, 29.60, 91.10, 29.65)],
                                       "540102-001")] + [
    f("540102-001-001-01", "grid", [box(91.00, 29.60, 91.05, 29.63)], "540102-001-001"),
    f("540102-001-001-02", "grid", [box(91.04, 29.60, 91.10, 29.65)], "540102-001-001"),
    f("540102-001-001-03", "grid", [box(91.00, 29.63, 91.05, 29.65)], "540102-001-001"),
])
write("err_properties.geojson", [
    D,
    {"type": "Feature", "properties": {"code": "540102-001", "level": "street", "parent": "540102"},
     "geometry": {"type": "Polygon", "coordinates": [box(91.00, 29.60, 91.10, 29.68)]}},
    {"type": "Feature", "properties": {"code": "540102-002", "name": "x", "level": "town", "parent": "540102"},
     "geometry": {"type": "Polygon", "coordinates": [box(91.10, 29.60, 91.20, 29.68)]}},
    {"type": "Feature", "properties": {"code": 540103, "name": "y", "level": "district", "crs": "utm"},
     "geometry": {"type": "Point", "coordinates": [91.0, 29.0]}},
])
with open(os.path.join(HERE, "err_malformed.geojson"), "w") as fh:
    fh.write('{"type": "FeatureCollection",\n "features": [\n  {"type": "Feature", "properties": {"code": "540102"\n')
