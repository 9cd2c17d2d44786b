package engine

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzLoadResolve: whatever a script passes to load(), resolution never
// panics and never yields a file outside the script's directory tree,
// also through a symlink that points out of it.
func FuzzLoadResolve(f *testing.F) {
	for _, seed := range []string{"a.star", "sub/b.star", "../x.star", "/etc/passwd", "out.star", "@stdlib//run.star",
		"@stdlib//../x", "@other//x", "sub/../a.star", "sub/../../a.star", "", ".", "a.star\x00", "sub//b.star"} {
		f.Add(seed)
	}
	root := f.TempDir()
	for _, p := range []string{"a.star", "sub/b.star", "main.star"} {
		os.MkdirAll(filepath.Join(root, filepath.Dir(p)), 0o755)
		os.WriteFile(filepath.Join(root, p), []byte("x = 1\n"), 0o644)
	}
	os.Symlink("/etc/hostname", filepath.Join(root, "out.star"))
	realRoot, _ := filepath.EvalSymlinks(root)
	from := filepath.Join(root, "main.star")
	f.Fuzz(func(t *testing.T, name string) {
		l := &loader{host: &Host{}, root: root, cache: map[string]*module{}, names: map[string]string{}}
		key, _, _, err := l.resolve(from, name)
		if err != nil || strings.HasPrefix(key, StdlibPrefix) {
			return
		}
		if !within(root, key) {
			t.Fatalf("load(%q) resolved to %s, outside %s", name, key, root)
		}
		if real, err := filepath.EvalSymlinks(key); err == nil && !within(realRoot, real) {
			t.Fatalf("load(%q) resolved to %s, a link out of %s", name, real, root)
		}
	})
}
