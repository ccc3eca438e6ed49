package config

import (
	"fmt"
	"math"
)

// checkRegions checks a list of named polygons (privacy masks or motion zones).
// Zones need names, since events report which zones saw motion.
func checkRegions(v *validator, key string, regions []Region, needName bool) {
	names := map[string]bool{}
	for i, r := range regions {
		k := fmt.Sprintf("%s[%d]", key, i)
		if needName && r.Name == "" {
			v.errorf(k+".name", "%s has no name; give it one, e.g. name = \"path\"", k)
		}
		if r.Name != "" && names[r.Name] {
			v.errorf(k+".name", "%s: the name %q is used twice; give each a different name", k, r.Name)
		}
		names[r.Name] = true
		if msg := PolygonProblem(r.Polygon); msg != "" {
			v.errorf(k+".polygon", "%s.polygon %s", k, msg)
		}
	}
}

// PolygonProblem says what is wrong with a polygon, or returns "" if it is usable:
// at least 3 corners, each [x, y] within 0..1, not self-intersecting, with an area.
func PolygonProblem(poly [][]float64) string {
	const fix = "; list at least 3 corners as [x, y] with 0 <= x, y <= 1, in order around the shape, e.g. [[0.1,0.1],[0.5,0.1],[0.5,0.6]]"
	if len(poly) < 3 {
		return fmt.Sprintf("has %d corner(s), fewer than 3%s", len(poly), fix)
	}
	for i, p := range poly {
		if len(p) != 2 {
			return fmt.Sprintf("corner %d has %d numbers, not 2%s", i+1, len(p), fix)
		}
		for _, c := range p {
			if math.IsNaN(c) || c < 0 || c > 1 {
				return fmt.Sprintf("corner %d [%g, %g] lies outside 0..1%s", i+1, p[0], p[1], fix)
			}
		}
	}
	n := len(poly)
	for i := 0; i < n; i++ {
		a, b := poly[i], poly[(i+1)%n]
		if a[0] == b[0] && a[1] == b[1] {
			return fmt.Sprintf("repeats corner %d [%g, %g]%s", i+1, a[0], a[1], fix)
		}
		for j := i + 1; j < n; j++ {
			if j == i+1 || (i == 0 && j == n-1) {
				continue // neighbouring edges share a corner
			}
			c, d := poly[j], poly[(j+1)%n]
			if segmentsCross(a, b, c, d) {
				return fmt.Sprintf("crosses itself (edge %d and edge %d meet)%s", i+1, j+1, fix)
			}
		}
	}
	if area := math.Abs(PolygonArea(poly)); area < 1e-6 {
		return fmt.Sprintf("has no area (all corners lie on one line)%s", fix)
	}
	return ""
}

// PolygonArea is the signed area by the shoelace formula.
func PolygonArea(poly [][]float64) float64 {
	var s float64
	for i := range poly {
		a, b := poly[i], poly[(i+1)%len(poly)]
		s += a[0]*b[1] - b[0]*a[1]
	}
	return s / 2
}

func cross(o, a, b []float64) float64 {
	return (a[0]-o[0])*(b[1]-o[1]) - (a[1]-o[1])*(b[0]-o[0])
}

func onSegment(p, q, r []float64) bool {
	return math.Min(p[0], r[0]) <= q[0] && q[0] <= math.Max(p[0], r[0]) &&
		math.Min(p[1], r[1]) <= q[1] && q[1] <= math.Max(p[1], r[1])
}

// segmentsCross reports whether segments ab and cd touch or cross.
func segmentsCross(a, b, c, d []float64) bool {
	d1, d2 := cross(c, d, a), cross(c, d, b)
	d3, d4 := cross(a, b, c), cross(a, b, d)
	if ((d1 > 0 && d2 < 0) || (d1 < 0 && d2 > 0)) && ((d3 > 0 && d4 < 0) || (d3 < 0 && d4 > 0)) {
		return true
	}
	return (d1 == 0 && onSegment(c, a, d)) || (d2 == 0 && onSegment(c, b, d)) ||
		(d3 == 0 && onSegment(a, c, b)) || (d4 == 0 && onSegment(a, d, b))
}
