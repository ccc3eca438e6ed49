package config

import (
	"strings"
	"testing"
)

func TestMotionZoneErrors(t *testing.T) {
	const zoneHead = "[motion]\nthreshold = 20\n\n[[motion.zone]]\nname = \"path\"\n"
	cases := []errorCase{
		{"self-intersecting zone", zoneHead + "polygon = [[0.1, 0.1], [0.9, 0.9], [0.9, 0.1], [0.1, 0.9]]\n", 6,
			[]string{"motion.zone[0].polygon crosses itself", "in order around the shape"}},
		{"zone with two corners", zoneHead + "polygon = [[0.1, 0.1], [0.9, 0.9]]\n", 6,
			[]string{"motion.zone[0].polygon has 2 corner(s)", "at least 3"}},
		{"zone without corners", zoneHead + "polygon = []\n", 6,
			[]string{"motion.zone[0].polygon has 0 corner(s)"}},
		{"zero-area zone", zoneHead + "polygon = [[0.1, 0.1], [0.5, 0.5], [0.9, 0.9]]\n", 6,
			[]string{"motion.zone[0].polygon has no area"}},
		{"repeated corner", zoneHead + "polygon = [[0.1, 0.1], [0.1, 0.1], [0.9, 0.9]]\n", 6,
			[]string{"motion.zone[0].polygon repeats corner 1"}},
		{"zone outside the picture", zoneHead + "polygon = [[0.1, 0.1], [1.2, 0.1], [0.5, 0.5]]\n", 6,
			[]string{"lies outside 0..1"}},
		{"zone without a name", "[[motion.zone]]\npolygon = [[0.1, 0.1], [0.9, 0.1], [0.5, 0.5]]\n", 1,
			[]string{"motion.zone[0] has no name", "name = "}},
		{"two zones with one name", "[[motion.zone]]\nname = \"a\"\npolygon = [[0.1, 0.1], [0.9, 0.1], [0.5, 0.5]]\n" +
			"[[motion.zone]]\nname = \"a\"\npolygon = [[0.1, 0.6], [0.9, 0.6], [0.5, 0.9]]\n", 5,
			[]string{"used twice"}},
		{"second zone is the bad one", zoneHead + "polygon = [[0.1, 0.1], [0.9, 0.1], [0.5, 0.5]]\n\n[[motion.zone]]\nname = \"door\"\npolygon = [[0.2, 0.2], [0.3, 0.3]]\n", 10,
			[]string{"motion.zone[1].polygon has 2 corner(s)"}},
		{"threshold too high", "[motion]\nthreshold = 300\n", 2, []string{"motion.threshold is 300", "1 to 254"}},
		{"min_area zero", "[motion]\nmin_area = 0.0\n", 2, []string{"motion.min_area is 0", "e.g. 0.005"}},
		{"even blur", "[motion]\nblur = 4\n", 2, []string{"motion.blur is 4", "odd"}},
		{"tiny width", "[motion]\nwidth = 8\n", 2, []string{"motion.width is 8", "32 to 1920"}},
		{"absorb faster than learn", "[motion]\nlearn_time = 10.0\nabsorb_time = 5.0\n", 3, []string{"motion.absorb_time is 5", "at least learn_time (10)"}},
		{"max event shorter than quiet", "[motion]\nquiet = 10.0\nmax_event = 5.0\n", 3, []string{"motion.max_event is 5", "at least quiet (10)"}},
		{"negative cooldown", "[motion]\ncooldown = -1.0\n", 2, []string{"motion.cooldown is -1"}},
		{"start frames zero", "[motion]\nstart_frames = 0\n", 2, []string{"motion.start_frames is 0"}},
		{"light change above one", "[motion]\nlight_change = 1.5\n", 2, []string{"motion.light_change is 1.5"}},
		{"brightness jump zero", "[motion]\nbrightness_jump = 0.0\n", 2, []string{"motion.brightness_jump is 0"}},
		{"learn time zero", "[motion]\nlearn_time = 0.0\n", 2, []string{"motion.learn_time is 0"}},
		{"wrong type", "[motion]\nthreshold = \"high\"\n", 2, []string{"motion.threshold must be of type int"}},
		{"unknown key", "[motion]\nsensitivity = 3\n", 2, []string{`unknown key "motion.sensitivity"`}},
	}
	checkErrorCases(t, cases)
}

func TestMotionTooManyZones(t *testing.T) {
	var b strings.Builder
	for i := range maxZones + 1 {
		b.WriteString("[[motion.zone]]\nname = \"z")
		b.WriteString(strings.Repeat("x", i+1))
		b.WriteString("\"\npolygon = [[0.1, 0.1], [0.9, 0.1], [0.5, 0.5]]\n")
	}
	es := parseErr(t, b.String())
	if !strings.Contains(es.Error(), "use at most 16") {
		t.Errorf("17 zones: %v", es)
	}
}

func TestMotionZonesLoad(t *testing.T) {
	src := "[motion]\nthreshold = 30\nmin_area = 0.02\nquiet = 2.5\n\n" +
		"[[motion.zone]]\nname = \"path\"\npolygon = [[0.1, 0.5], [0.9, 0.5], [0.5, 1.0]]\n\n" +
		"[[motion.zone]]\nname = \"door\"\npolygon = [[0.4, 0.1], [0.6, 0.1], [0.6, 0.9], [0.4, 0.9]]\n"
	cfg, err := Parse("test.toml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	m := cfg.Motion
	if m.Threshold != 30 || m.MinArea != 0.02 || m.Quiet != 2.5 {
		t.Errorf("values not read: %+v", m)
	}
	if m.Width != defaultMotion().Width || !m.Enabled {
		t.Errorf("defaults lost for keys the file does not name: %+v", m)
	}
	if len(m.Zone) != 2 || m.Zone[0].Name != "path" || m.Zone[1].Name != "door" || len(m.Zone[1].Polygon) != 4 {
		t.Errorf("zones not read: %+v", m.Zone)
	}
	if def := Defaults().Motion; len(def.Zone) != 0 {
		t.Errorf("the default has zones %v; none means the whole picture", def.Zone)
	}
}
