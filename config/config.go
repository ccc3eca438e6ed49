// Package config reads and checks the daemon's TOML configuration, naming
// the file, the line and the fix for every mistake.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/pelletier/go-toml/v2"
	"github.com/pelletier/go-toml/v2/unstable"

	"doorbell/wire"
)

// Config is the whole configuration. Defaults() gives every key its default;
// a file only overrides what it names.
type Config struct {
	Device      Device   `toml:"device"`
	HTTP        HTTP     `toml:"http"`
	Log         Log      `toml:"log"`
	Camera      Camera   `toml:"camera"`
	PrivacyMask []Region `toml:"privacy_mask"`
	Motion      Motion   `toml:"motion"`
	Stream      Stream   `toml:"stream"`
	GPIO        GPIO     `toml:"gpio"`
	MQTT        MQTT     `toml:"mqtt"`
	Recorder    Recorder `toml:"recorder"`
	Memory      Memory   `toml:"memory"` // memory.go
	Push        Push     `toml:"push"`
	Replica     Replica  `toml:"replica"`
	Privacy     Privacy  `toml:"privacy"`
	Audio       Audio    `toml:"audio"`

	// File is the path the configuration was read from ("" for defaults).
	File string `toml:"-"`
}

// Device is what the daemon needs to know about itself.
type Device struct {
	Name    string `toml:"name"`
	DataDir string `toml:"data_dir"`
}

// HTTP is where the daemon listens.
type HTTP struct {
	Listen         string `toml:"listen"`
	RedirectListen string `toml:"redirect_listen"`
	CertFile       string `toml:"cert_file"`
	KeyFile        string `toml:"key_file"`
	ACME           ACME   `toml:"acme"`
}

// Log sets the log format and level.
type Log struct {
	Format string `toml:"format"`
	Level  string `toml:"level"`
}

// Region is a named polygon with corners in coordinates normalised to 0..1,
// (0,0) the top left of the picture and (1,1) the bottom right.
type Region struct {
	Name    string      `toml:"name"`
	Polygon [][]float64 `toml:"polygon"`
}

// Points returns the polygon's corners as (x, y) pairs.
func (r Region) Points() [][2]float64 {
	pts := make([][2]float64, len(r.Polygon))
	for i, p := range r.Polygon {
		if len(p) == 2 {
			pts[i] = [2]float64{p[0], p[1]}
		}
	}
	return pts
}

// Defaults returns the configuration used when a key is not in the file.
func Defaults() Config {
	return Config{
		Device:   Device{Name: "doorbell", DataDir: "/var/lib/doorbell"},
		HTTP:     HTTP{Listen: "0.0.0.0:" + wire.DefaultPort, ACME: defaultACME()},
		Log:      Log{Format: "text", Level: "info"},
		Camera:   defaultCamera(),
		Motion:   defaultMotion(),
		Stream:   defaultStream(),
		GPIO:     defaultGPIO(),
		MQTT:     defaultMQTT(),
		Recorder: defaultRecorder(),
		Memory:   defaultMemory(),
		Push:     defaultPush(),
		Replica:  defaultReplica(),
		Privacy:  defaultPrivacy(),
		Audio:    defaultAudio(),
	}
}

// Load reads and checks the file at path. The error, if any, is an Errors
// listing every problem found.
func Load(path string) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("cannot read config file: %w; check the path given with -config", err)
	}
	return Parse(path, data)
}

// Parse checks data as the contents of the file named name.
func Parse(name string, data []byte) (Config, error) {
	cfg := Defaults()
	cfg.File = name
	if err := decode(data, &cfg); err != nil {
		return Config{}, decodeErrors(name, data, err)
	}
	v := &validator{file: name, lines: keyLines(data)}
	cfg.ApplyPrivacyProfile(v.inFile) // privacy.go
	cfg.validate(v)
	if len(v.errs) > 0 {
		sort.SliceStable(v.errs, func(i, j int) bool { return v.errs[i].Line < v.errs[j].Line })
		return Config{}, v.errs
	}
	return cfg, nil
}

// decode is go-toml's strict decoder, with its panics turned into errors:
// go-toml v2.2.4 panicked on "[[privacy_mask.0]]", and a config file must
// never crash the daemon, whatever the decoder's next bug is.
func decode(data []byte, cfg *Config) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("the TOML decoder failed on this file (%v); compare its tables and keys with deploy/doorbell.example.toml", r)
		}
	}()
	return toml.NewDecoder(bytes.NewReader(data)).DisallowUnknownFields().Decode(cfg)
}

// Error is one problem in a configuration file.
type Error struct {
	File string
	Line int // 0 when the key is not in the file (a default was wrong for this setup)
	Key  string
	Msg  string // what is wrong, then what to do
}

func (e *Error) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return fmt.Sprintf("%s: %s", e.File, e.Msg)
}

// Errors is every problem found in one file, in file order.
type Errors []*Error

func (es Errors) Error() string {
	s := make([]string, len(es))
	for i, e := range es {
		s[i] = e.Error()
	}
	return strings.Join(s, "\n")
}

func decodeErrors(name string, data []byte, err error) error {
	var strict *toml.StrictMissingError
	if errors.As(err, &strict) {
		var es Errors
		for _, de := range strict.Errors {
			line, _ := de.Position()
			key := strings.Join(de.Key(), ".")
			es = append(es, &Error{File: name, Line: line, Key: key,
				Msg: fmt.Sprintf("unknown key %q; check its spelling against deploy/doorbell.example.toml, or remove it", key)})
		}
		return es
	}
	var de *toml.DecodeError
	if errors.As(err, &de) {
		line, _ := de.Position()
		key := strings.Join(de.Key(), ".")
		if key == "" {
			key = keyOnLine(data, line)
		}
		msg := strings.TrimPrefix(de.Error(), "toml: ")
		if m := fieldMismatch.FindStringSubmatch(msg); m != nil && key != "" {
			msg = typeMismatch(key, m[3], m[1])
		} else if m := valueMismatch.FindStringSubmatch(msg); m != nil && key != "" {
			msg = typeMismatch(key, m[2], m[1])
		} else if strings.Contains(msg, "already") { // "key x is already defined", "table x already exists"
			msg += "; a key or table may appear only once in the file: remove the repeat, or merge the two"
		} else {
			if key != "" {
				msg = key + ": " + msg
			}
			msg += "; fix the TOML syntax or value type on that line (see deploy/doorbell.example.toml)"
		}
		return Errors{{File: name, Line: line, Key: key, Msg: msg}}
	}
	// Errors without a position name the Go field: name the TOML key instead, and find its line.
	msg := strings.TrimPrefix(err.Error(), "toml: ")
	if m := fieldMismatch.FindStringSubmatch(msg); m != nil {
		if key := tomlKey(m[2]); key != "" {
			return Errors{{File: name, Line: keyLines(data)[key], Key: key,
				Msg: typeMismatch(key, m[3], m[1])}}
		}
	}
	if strings.Contains(msg, "already") { // "key x is already defined", "table x already exists"
		return Errors{{File: name, Line: guessLine(data, msg), Msg: msg + "; a key or table may appear only once in the file: remove the repeat, or merge the two"}}
	}
	return Errors{{File: name, Line: guessLine(data, msg), Msg: msg + "; give the key a value of the type shown in deploy/doorbell.example.toml"}}
}

func typeMismatch(key, want, got string) string {
	return fmt.Sprintf("%s must be of type %s, but the file gives a TOML %s; write it like the example in deploy/doorbell.example.toml", key, want, got)
}

var valueMismatch = regexp.MustCompile(`^(\w+) cannot be assigned to (\S+)`)

// keyOnLine returns the longest key path set on line, or "".
func keyOnLine(data []byte, line int) string {
	best := ""
	for k, l := range keyLines(data) {
		if l == line && len(k) > len(best) {
			best = k
		}
	}
	return best
}

var fieldMismatch = regexp.MustCompile(`cannot decode TOML (\w+) into struct field config\.(\S+) of type (\S+)`)

// tomlKey turns a Go field path such as "Camera.Width" into its TOML key "camera.width".
func tomlKey(field string) string {
	t := reflect.TypeOf(Config{})
	var parts []string
	for _, name := range strings.Split(field, ".") {
		for t.Kind() == reflect.Slice || t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct {
			return ""
		}
		f, ok := t.FieldByName(name)
		if !ok {
			return ""
		}
		parts = append(parts, strings.Split(f.Tag.Get("toml"), ",")[0])
		t = f.Type
	}
	return strings.Join(parts, ".")
}

// guessLine finds the first line that assigns a key named in msg.
func guessLine(data []byte, msg string) int {
	lines := keyLines(data)
	keys := make([]string, 0, len(lines))
	for k := range lines {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return len(keys[i]) > len(keys[j]) })
	for _, k := range keys {
		leaf := k[strings.LastIndexAny(k, ".]")+1:]
		if leaf != "" && strings.Contains(msg, leaf) {
			return lines[k]
		}
	}
	return 0
}

// keyLines maps every key path in the file ("camera.fps",
// "privacy_mask[1].polygon") to the line it is set on. Tables map to their header line.
func keyLines(data []byte) map[string]int {
	lines := map[string]int{}
	counts := map[string]int{}
	var p unstable.Parser
	p.Reset(data)
	prefix := ""
	for p.NextExpression() {
		e := p.Expression()
		switch e.Kind {
		case unstable.Table, unstable.ArrayTable:
			k, line := keyPath(&p, e.Key())
			if e.Kind == unstable.ArrayTable {
				n := counts[k]
				counts[k] = n + 1
				k = fmt.Sprintf("%s[%d]", k, n)
			}
			prefix = k
			lines[k] = line
		case unstable.KeyValue:
			k, line := keyPath(&p, e.Key())
			if prefix != "" {
				k = prefix + "." + k
			}
			lines[k] = line
		}
	}
	return lines
}

func keyPath(p *unstable.Parser, it unstable.Iterator) (string, int) {
	var parts []string
	line := 0
	for it.Next() {
		n := it.Node()
		parts = append(parts, string(n.Data))
		if line == 0 {
			line = p.Shape(n.Raw).Start.Line
		}
	}
	return strings.Join(parts, "."), line
}

// validator collects errors, each placed at the line of its key.
type validator struct {
	file  string
	lines map[string]int
	errs  Errors
}

// errorf records a problem with key. The message says what is wrong, then what to do.
func (v *validator) errorf(key, format string, args ...any) {
	v.errs = append(v.errs, &Error{File: v.file, Line: v.line(key), Key: key, Msg: fmt.Sprintf(format, args...)})
}

// inFile reports whether the file sets key (or, for an array of tables, its first entry).
func (v *validator) inFile(key string) bool {
	_, ok := v.lines[key]
	_, first := v.lines[key+"[0]"]
	return ok || first
}

// line finds key's line, or the line of the nearest enclosing table in the file.
func (v *validator) line(key string) int {
	for k := key; k != ""; {
		if l, ok := v.lines[k]; ok {
			return l
		}
		i := strings.LastIndexAny(k, ".[")
		if i < 0 {
			break
		}
		k = k[:i]
	}
	return 0
}

func (c *Config) validate(v *validator) {
	if c.Device.DataDir == "" {
		v.errorf("device.data_dir", "device.data_dir is empty; set it to the directory that holds keys and clips, e.g. \"/var/lib/doorbell\"")
	}
	checkHostPort(v, "http.listen", c.HTTP.Listen, false)
	checkHostPort(v, "http.redirect_listen", c.HTTP.RedirectListen, true)
	if (c.HTTP.CertFile == "") != (c.HTTP.KeyFile == "") {
		v.errorf("http.cert_file", "http.cert_file and http.key_file must be set together; set both to use your own certificate, or neither for a self-signed one")
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		v.errorf("log.format", "log.format is %q; use \"text\" or \"json\"", c.Log.Format)
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		v.errorf("log.level", "log.level is %q; use \"debug\", \"info\", \"warn\" or \"error\"", c.Log.Level)
	}
	c.Camera.validate(v)
	checkRegions(v, "privacy_mask", c.PrivacyMask, false)
	c.Motion.validate(v)
	c.Stream.validate(v)
	c.GPIO.validate(v)
	c.MQTT.validate(v)
	c.Recorder.validate(v, &c.Stream)
	c.Memory.validate(v)
	c.Push.validate(v)
	c.HTTP.ACME.validate(v, &c.HTTP)
	c.Replica.validate(v)
	c.Privacy.validate(v, c)
	c.Audio.validate(v)
}

func checkHostPort(v *validator, key, s string, optional bool) {
	if s == "" && optional {
		return
	}
	i := strings.LastIndexByte(s, ':')
	if i < 0 {
		v.errorf(key, "%s is %q, which has no port; write HOST:PORT, e.g. \"0.0.0.0:8443\"", key, s)
		return
	}
	port, err := strconv.Atoi(s[i+1:])
	if err != nil || port < 0 || port > 65535 {
		v.errorf(key, "%s is %q, whose port is not a number from 0 to 65535; write HOST:PORT, e.g. \"0.0.0.0:8443\"", key, s)
	}
}

// Recheck validates cfg again after command-line flags changed it. Flag
// values have no line in the file, so errors name the key only.
func Recheck(cfg *Config) error {
	v := &validator{file: cfg.File, lines: map[string]int{}}
	cfg.validate(v)
	if len(v.errs) > 0 {
		return v.errs
	}
	return nil
}
