package starlib_test

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ktstar/ktstar/engine"
	"github.com/ktstar/ktstar/internal/golden"
	"github.com/ktstar/ktstar/starlib"
	"go.starlark.net/starlark"
	"go.starlark.net/starlarktest"
)

// runScript runs one file with the starlib names plus starlarktest's
// assert module, and closes the session (every worker reaped) at the end.
func runScript(t *testing.T, path string, params map[string]string) (string, error) {
	t.Helper()
	return runSession(t, starlib.NewSession(starlib.Options{Params: params}), path)
}

// runSession runs one file in sess, as runScript does.
func runSession(t *testing.T, sess *starlib.Session, path string) (string, error) {
	t.Helper()
	t.Cleanup(sess.Close)
	var out strings.Builder
	_, err := testHost(t, sess, &out).Run(context.Background(), path)
	return out.String(), err
}

// testHost runs scripts with the session's names plus starlarktest's
// assert module, whose failures fail t.
func testHost(t *testing.T, sess *starlib.Session, out io.Writer) *engine.Host {
	t.Helper()
	pre := sess.Predeclared()
	assert, err := starlarktest.LoadAssertModule()
	if err != nil {
		t.Fatal(err)
	}
	pre["assert"] = assert["assert"]
	return &engine.Host{Predeclared: pre, Out: out, InitThread: func(th *starlark.Thread) { starlarktest.SetReporter(th, t) }}
}

// TestScripts runs every testdata/*.star: each asserts with the assert
// module of go.starlark.net/starlarktest, whose errors fail the test.
func TestScripts(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.star")
	if len(files) == 0 {
		t.Fatal("no testdata/*.star")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			out, err := runScript(t, f, map[string]string{"who": "tester"})
			if err != nil {
				t.Fatalf("%v\noutput:\n%s", err, out)
			}
		})
	}
}

// TestErrorGolden checks the exact text of script errors against
// testdata/errors/NAME.golden; the script is NAME.star or NAME/main.star.
func TestErrorGolden(t *testing.T) {
	entries, err := os.ReadDir("testdata/errors")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		var name, script string
		switch {
		case e.IsDir():
			name, script = e.Name(), filepath.Join("testdata/errors", e.Name(), "main.star")
		case strings.HasSuffix(e.Name(), ".star"):
			name, script = strings.TrimSuffix(e.Name(), ".star"), filepath.Join("testdata/errors", e.Name())
		default:
			continue
		}
		t.Run(name, func(t *testing.T) {
			_, err := runScript(t, script, nil)
			if err == nil {
				t.Fatal("script succeeded, want an error")
			}
			golden.Check(t, filepath.Join("testdata/errors", name+".golden"), err.Error()+"\n")
		})
	}
}

// TestFailIsFailError checks that fail() is told apart from other errors,
// which is what makes the command exit 1 instead of 2.
func TestFailIsFailError(t *testing.T) {
	_, err := runScript(t, "testdata/errors/fail.star", nil)
	var fe *starlib.FailError
	if !errors.As(err, &fe) || fe.Msg != "x = 2 is too big" {
		t.Fatalf("err = %v, want a FailError with the message", err)
	}
	_, err = runScript(t, "testdata/errors/three_deep.star", nil)
	if errors.As(err, &fe) {
		t.Fatalf("a runtime error unwraps to FailError: %v", err)
	}
}
