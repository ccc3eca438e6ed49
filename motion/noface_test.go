package motion

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// The doorbell never looks for faces or people. These tests fail if any Go
// package of this module (tests included) uses an API that detects or
// recognises them, or if any C/C++ source or the module's dependencies do.

// forbiddenAPIs are gocv names for face and person detection and
// recognition, and for running neural networks.
var forbiddenAPIs = words(
	"CascadeClassifier NewCascadeClassifier DetectMultiScale DetectMultiScaleWithParams " +
		"HOGDescriptor NewHOGDescriptor HOGDefaultPeopleDetector SetSVMDetector " +
		"FaceDetectorYN NewFaceDetectorYN NewFaceDetectorYNWithParams NewFaceDetectorYNFromBytes NewFaceDetectorYNFromBytesWithParams " +
		"FaceRecognizerSF NewFaceRecognizerSF NewFaceRecognizerSFWithParams " +
		"Net ReadNet ReadNetBytes ReadNetFromCaffe ReadNetFromCaffeBytes ReadNetFromTensorflow ReadNetFromTensorflowBytes " +
		"ReadNetFromTorch ReadNetFromONNX ReadNetFromONNXBytes BlobFromImage BlobFromImages NMSBoxes NMSBoxesWithParams")

// forbiddenNames are distinctive enough to refuse anywhere, whatever package
// they come from (a dot import, a wrapper, another binding).
var forbiddenNames = words("CascadeClassifier NewCascadeClassifier DetectMultiScale HOGDescriptor NewHOGDescriptor " +
	"HOGDefaultPeopleDetector FaceDetectorYN NewFaceDetectorYN FaceRecognizerSF NewFaceRecognizerSF " +
	"LBPHFaceRecognizer NewLBPHFaceRecognizer ReadNetFromCaffe ReadNetFromTensorflow ReadNetFromONNX ReadNetFromTorch")

// forbiddenModules are packages and modules whose purpose is face or
// person detection, recognition, or neural-network inference.
var forbiddenModules = []string{
	"gocv.io/x/gocv/contrib", // face recognisers
	"gocv.io/x/gocv/cuda",    // GPU cascade and HOG detectors
	"gocv.io/x/gocv/openvino",
	"github.com/Kagami/go-face",
	"github.com/esimov/pigo",
	"github.com/tensorflow/tensorflow",
	"github.com/galeone/tfgo",
	"github.com/yalue/onnxruntime_go",
	"github.com/owulveryck/onnx-go",
	"github.com/mattn/go-tflite",
	"gorgonia.org/gorgonia",
}

// forbiddenText is looked for in C and C++ sources and cgo preambles.
var forbiddenText = []string{"CascadeClassifier", "HOGDescriptor", "dnn::", "cv::dnn", "readNet", "FaceDetectorYN",
	"FaceRecognizerSF", "objdetect.hpp", "face.hpp", "dnn.hpp"}

const gocvPath = "gocv.io/x/gocv"

func words(s string) map[string]bool {
	m := map[string]bool{}
	for _, w := range strings.Fields(s) {
		m[w] = true
	}
	return m
}

// moduleRoot finds the directory holding go.mod, above the test's directory.
func moduleRoot(t *testing.T) string {
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the motion package")
		}
		dir = parent
	}
}

// scanModule returns every use of a forbidden API under root, and the Go
// files it read.
func scanModule(root string) (problems []string, goFiles []string, err error) {
	fset := token.NewFileSet()
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if path != root && (strings.HasPrefix(name, ".") || name == "vendor" || name == "testdata" || name == "node_modules") {
				return filepath.SkipDir
			}
			return nil
		}
		rel, _ := filepath.Rel(root, path)
		switch filepath.Ext(name) {
		case ".go":
			goFiles = append(goFiles, rel)
			f, err := parser.ParseFile(fset, path, nil, parser.ParseComments|parser.SkipObjectResolution)
			if err != nil {
				return fmt.Errorf("%s: %v", rel, err)
			}
			problems = append(problems, scanGoFile(fset, rel, f)...)
		case ".c", ".cc", ".cpp", ".cxx", ".h", ".hpp":
			data, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			problems = append(problems, scanText(rel, string(data))...)
		case ".mod":
			if name == "go.mod" {
				data, err := os.ReadFile(path)
				if err != nil {
					return err
				}
				for _, m := range forbiddenModules {
					if strings.Contains(string(data), m) {
						problems = append(problems, fmt.Sprintf("%s requires %s", rel, m))
					}
				}
			}
		}
		return nil
	})
	return problems, goFiles, err
}

func scanGoFile(fset *token.FileSet, rel string, f *ast.File) []string {
	var problems []string
	at := func(n ast.Node) string { return fmt.Sprintf("%s:%d", rel, fset.Position(n.Pos()).Line) }
	gocvNames := map[string]bool{}
	dotGocv := false
	for _, imp := range f.Imports {
		path, _ := strconv.Unquote(imp.Path.Value)
		for _, m := range forbiddenModules {
			if path == m || strings.HasPrefix(path, m+"/") {
				problems = append(problems, fmt.Sprintf("%s imports %s", at(imp), path))
			}
		}
		if path == gocvPath {
			switch {
			case imp.Name == nil:
				gocvNames["gocv"] = true
			case imp.Name.Name == ".":
				dotGocv = true
			default:
				gocvNames[imp.Name.Name] = true
			}
		}
		if path == "C" && imp.Doc != nil {
			problems = append(problems, scanText(at(imp)+" (cgo preamble)", imp.Doc.Text())...)
		}
	}
	for _, g := range f.Decls {
		if gd, ok := g.(*ast.GenDecl); ok && gd.Tok == token.IMPORT && gd.Doc != nil {
			for _, s := range gd.Specs {
				if p := s.(*ast.ImportSpec).Path.Value; p == `"C"` {
					problems = append(problems, scanText(at(gd)+" (cgo preamble)", gd.Doc.Text())...)
				}
			}
		}
	}
	ast.Inspect(f, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.SelectorExpr:
			if x, ok := n.X.(*ast.Ident); ok && gocvNames[x.Name] && forbiddenAPIs[n.Sel.Name] {
				problems = append(problems, fmt.Sprintf("%s uses %s.%s", at(n), x.Name, n.Sel.Name))
			}
		case *ast.Ident:
			if forbiddenNames[n.Name] || dotGocv && forbiddenAPIs[n.Name] {
				problems = append(problems, fmt.Sprintf("%s names %s", at(n), n.Name))
			}
		}
		return true
	})
	return problems
}

func scanText(where, text string) []string {
	var problems []string
	for _, w := range forbiddenText {
		if strings.Contains(text, w) {
			problems = append(problems, fmt.Sprintf("%s mentions %s", where, w))
		}
	}
	return problems
}

func TestNoFaceOrPersonDetection(t *testing.T) {
	root := moduleRoot(t)
	problems, files, err := scanModule(root)
	if err != nil {
		t.Fatal(err)
	}
	// Make sure the scan saw the module, not an empty directory.
	seen := strings.Join(files, "\n")
	for _, want := range []string{"motion/detector.go", "motion/noface_test.go", "cmd/doorbelld/main.go"} {
		if !strings.Contains(seen, want) {
			t.Fatalf("the scan of %s did not read %s; it read %d Go files", root, want, len(files))
		}
	}
	for _, p := range problems {
		t.Errorf("face or person detection is not allowed in the doorbell: %s", p)
	}
}

// TestTheScanCatches proves the scan above can fail: a module that does
// what the doorbell must not.
func TestTheScanCatches(t *testing.T) {
	dir := t.TempDir()
	cascade := "Cascade" + "Classifier" // spelt apart, so the scan of this file stays clean
	files := map[string]string{
		"go.mod":  "module bad\n\nrequire gocv.io/x/gocv v0.31.0\nrequire github.com/esimov/" + "pigo v1.4.6\n",
		"a/a.go":  "package a\n\nimport \"gocv.io/x/gocv\"\n\nfunc f() { c := gocv.New" + cascade + "(); c.Load(\"x.xml\") }\n",
		"b/b.go":  "package b\n\nimport cv \"gocv.io/x/gocv\"\n\nfunc f() { _, _ = cv.ReadNet" + "FromONNX(\"m.onnx\") }\n",
		"c/c.go":  "package c\n\nimport . \"gocv.io/x/gocv\"\n\nfunc f() { _ = Blob" + "FromImage }\n",
		"d/d.go":  "package d\n\nimport \"gocv.io/x/gocv/con" + "trib\"\n\nvar _ = contrib.X\n",
		"e/e.go":  "package e\n\n// #include <opencv2/objdetect" + ".hpp>\nimport \"C\"\n",
		"f/f.cpp": "cv::" + cascade + " c;\n",
		"g/g.go":  "package g\n\nimport \"gocv.io/x/gocv\"\n\nvar h = gocv.New" + "HOGDescriptor()\n",
	}
	for name, src := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	problems, _, err := scanModule(dir)
	if err != nil {
		t.Fatal(err)
	}
	all := strings.Join(problems, "\n")
	for _, want := range []string{"go.mod requires", "a/a.go:5 uses gocv.New" + cascade, "b/b.go:5 uses cv.ReadNet",
		"c/c.go:5", "d/d.go:3 imports gocv.io/x/gocv/con", "e/e.go:4 (cgo preamble) mentions objdetect", "f/f.cpp mentions " + cascade,
		"g/g.go:5 uses gocv.New" + "HOGDescriptor"} {
		if !strings.Contains(all, want) {
			t.Errorf("the scan missed %q; it found:\n%s", want, all)
		}
	}
}
