package config

import (
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/pelletier/go-toml/v2"
)

const example = "../deploy/doorbell.example.toml"

func TestExampleIsTheDefaults(t *testing.T) {
	cfg, err := Load(example)
	if err != nil {
		t.Fatalf("the example config does not load:\n%v", err)
	}
	cfg.File = ""
	if want := Defaults(); !reflect.DeepEqual(cfg, want) {
		t.Errorf("the example config's values differ from Defaults():\nexample:  %+v\ndefaults: %+v", cfg, want)
	}
}

func TestExampleDocumentsEveryKey(t *testing.T) {
	data, err := os.ReadFile(example)
	if err != nil {
		t.Fatal(err)
	}
	documented := keyLines(data)
	defaults, err := toml.Marshal(Defaults())
	if err != nil {
		t.Fatal(err)
	}
	for key := range keyLines(defaults) {
		if _, ok := documented[key]; !ok && !regionList[key] && !isTable(defaults, key) {
			t.Errorf("key %s is not in %s; add it with its default and a comment", key, example)
		}
	}
}

// parseErr parses src and returns its errors, failing if there are none.
func parseErr(t *testing.T, src string) Errors {
	t.Helper()
	_, err := Parse("test.toml", []byte(src))
	if err == nil {
		t.Fatalf("config was accepted:\n%s", src)
	}
	var es Errors
	if !errors.As(err, &es) {
		t.Fatalf("error is %T, not Errors: %v", err, err)
	}
	return es
}

// errorCase is a config that must be refused: its first error is on line,
// names the file, and says each of want.
type errorCase struct {
	name string
	src  string
	line int
	want []string // substrings of the message: what is wrong and what to do
}

// checkErrorCases parses each case as test.toml and checks its errors, and
// with also, anything more.
func checkErrorCases(t *testing.T, cases []errorCase, also ...func(t *testing.T, es Errors)) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			es := parseErr(t, c.src)
			e := es[0]
			if e.Line != c.line {
				t.Errorf("error on line %d, want line %d: %v", e.Line, c.line, e)
			}
			if !strings.HasPrefix(e.Error(), "test.toml:") {
				t.Errorf("error does not name the file: %v", e)
			}
			for _, w := range c.want {
				if !strings.Contains(e.Error(), w) {
					t.Errorf("error %q does not say %q", e.Error(), w)
				}
			}
			for _, f := range also {
				f(t, es)
			}
		})
	}
}

func TestErrors(t *testing.T) {
	cases := []errorCase{
		{"malformed toml", "[camera]\nwidth = 1280\nfps = = 3\n", 3, []string{"fix the TOML syntax"}},
		{"unknown key", "[camera]\nwidth = 640\nframerate = 30\n", 3, []string{`unknown key "camera.framerate"`, "check its spelling"}},
		{"unknown table", "[camra]\nwidth = 640\n", 1, []string{"unknown key", "camra"}},
		{"wrong type", "[camera]\nwidth = \"wide\"\n", 2, []string{"camera.width must be of type int", "TOML string"}},
		{"wrong type in a subtable", "[camera.synthetic]\nseed = 1.5\n", 2, []string{"camera.synthetic.seed must be of type int64"}},
		{"fps zero", "[camera]\nfps = 0\n", 2, []string{"camera.fps is 0", "from 1 to 120"}},
		{"odd width", "\n[camera]\nwidth = 641\n", 3, []string{"camera.width is 641", "even"}},
		{"unknown source", "[camera]\nsource = \"webcam\"\n", 2, []string{`"webcam"`, `"v4l2"`}},
		{"file without path", "[camera]\nsource = \"file\"\n", 1, []string{"camera.file.path is empty"}},
		{"listen without port", "[http]\nlisten = \"localhost\"\n", 2, []string{"no port", "HOST:PORT"}},
		{"cert without key", "[http]\ncert_file = \"/etc/c.pem\"\n", 2, []string{"set both"}},
		{"log format", "[log]\nformat = \"xml\"\n", 2, []string{`"xml"`, `"json"`}},
		{"polygon too few corners", "[[privacy_mask]]\nname = \"a\"\npolygon = [[0.1, 0.1], [0.2, 0.2]]\n", 3, []string{"privacy_mask[0].polygon has 2 corner(s)", "at least 3"}},
		{"polygon outside 0..1", "[[privacy_mask]]\npolygon = [[0.1, 0.1], [1.5, 0.1], [0.5, 0.5]]\n", 2, []string{"outside 0..1"}},
		{"polygon corner not a pair", "[[privacy_mask]]\npolygon = [[0.1, 0.1, 0.3], [0.5, 0.1], [0.5, 0.5]]\n", 2, []string{"has 3 numbers"}},
		{"polygon crosses itself", "[[privacy_mask]]\npolygon = [[0.1, 0.1], [0.5, 0.5], [0.5, 0.1], [0.1, 0.5]]\n", 2, []string{"crosses itself"}},
		{"polygon without area", "[[privacy_mask]]\npolygon = [[0.1, 0.1], [0.2, 0.2], [0.3, 0.3]]\n", 2, []string{"no area"}},
		{"key given twice", "[camera]\nwidth = 1280\nwidth = 640\n", 3, []string{"width is already defined", "only once"}},
		{"table given twice", "[camera]\nwidth = 640\n\n[camera]\nfps = 10\n", 4, []string{"camera already exists", "only once"}},
		// go-toml v2.2.4 panicked on these (issue 13, item 10).
		{"array of tables inside the mask list", "[[privacy_mask.0]]\n", 1, []string{`unknown key "privacy_mask.0"`}},
		{"array of tables inside the zone list", "[[motion.zone.0]]\n", 1, []string{`unknown key "motion.zone.0"`}},
		{"array of tables inside the zone list, later", "[motion]\n\n[[motion.zone.x]]\n", 3, []string{`unknown key "motion.zone.x"`}},
		{"second mask is the bad one", "[[privacy_mask]]\npolygon = [[0.1, 0.1], [0.5, 0.1], [0.5, 0.5]]\n\n[[privacy_mask]]\npolygon = [[0.1, 0.1]]\n", 5, []string{"privacy_mask[1].polygon"}},
	}
	checkErrorCases(t, cases)
}

func TestEveryErrorIsReported(t *testing.T) {
	es := parseErr(t, "[camera]\nfps = 0\nwidth = 3\n[log]\nlevel = \"loud\"\n")
	if len(es) != 3 {
		t.Fatalf("got %d errors, want 3:\n%v", len(es), es)
	}
	for i, line := range []int{2, 3, 5} {
		if es[i].Line != line {
			t.Errorf("error %d on line %d, want %d: %v", i, es[i].Line, line, es[i])
		}
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load("/nonexistent/doorbell.toml")
	if err == nil || !strings.Contains(err.Error(), "check the path") {
		t.Fatalf("missing file: got %v", err)
	}
}

func TestRecheckNamesTheKey(t *testing.T) {
	cfg := Defaults()
	cfg.File = "x.toml"
	cfg.HTTP.Listen = "nowhere"
	err := Recheck(&cfg)
	if err == nil || !strings.Contains(err.Error(), "http.listen") {
		t.Fatalf("got %v", err)
	}
}

func TestPolygonProblem(t *testing.T) {
	good := [][]float64{{0.1, 0.1}, {0.9, 0.1}, {0.9, 0.9}, {0.1, 0.9}}
	if p := PolygonProblem(good); p != "" {
		t.Errorf("square rejected: %s", p)
	}
	concave := [][]float64{{0.1, 0.1}, {0.9, 0.1}, {0.5, 0.5}, {0.9, 0.9}, {0.1, 0.9}}
	if p := PolygonProblem(concave); p != "" {
		t.Errorf("concave polygon rejected: %s", p)
	}
	repeated := [][]float64{{0.1, 0.1}, {0.1, 0.1}, {0.9, 0.9}, {0.1, 0.9}}
	if p := PolygonProblem(repeated); !strings.Contains(p, "repeats corner") {
		t.Errorf("repeated corner: %q", p)
	}
	touching := [][]float64{{0.1, 0.1}, {0.9, 0.1}, {0.5, 0.1}, {0.5, 0.9}}
	if p := PolygonProblem(touching); p == "" {
		t.Errorf("polygon folding back on its own edge was accepted")
	}
}

// Lists of polygons are documented as commented-out examples, having no default.
var regionList = map[string]bool{"privacy_mask": true, "motion.zone": true}

// isTable reports whether key is a table header in data.
func isTable(data []byte, key string) bool {
	return strings.Contains(string(data), "["+key+"]")
}
