package engine

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"go.starlark.net/resolve"
	"go.starlark.net/starlark"
	"go.starlark.net/syntax"
)

// Check parses and resolves the script at path and every module it loads,
// without running anything: syntax errors, undefined names and loads that
// cannot be resolved are reported with their positions.
func (h *Host) Check(path string) error {
	name := filepath.Clean(path)
	abs, err := filepath.Abs(name)
	if err != nil {
		return err
	}
	src, err := os.ReadFile(name)
	if err != nil {
		return fmt.Errorf("read script: %w", err)
	}
	l := &loader{host: h, root: filepath.Dir(abs), cache: map[string]*module{}, names: map[string]string{}}
	var errs []error
	h.checkModule(l, abs, name, src, &errs)
	return errors.Join(errs...)
}

// checkFile resolves one module and then each module it loads, once each.
func (h *Host) checkFile(l *loader, name string, src []byte, errs *[]error) {
	f, err := FileOptions().Parse(name, src, 0)
	if err != nil {
		*errs = append(*errs, wrap(err))
		return
	}
	if err := resolve.File(f, h.Predeclared.Has, starlark.Universe.Has); err != nil {
		*errs = append(*errs, wrap(err))
	}
	for _, stmt := range f.Stmts {
		load, ok := stmt.(*syntax.LoadStmt)
		if !ok {
			continue
		}
		module, _ := load.Module.Value.(string)
		key, display, src, err := l.resolve(name, module)
		if err != nil {
			*errs = append(*errs, &Error{Text: fmt.Sprintf("%s: error: cannot load %s: %v", load.Module.TokenPos, module, err), Err: err})
			continue
		}
		if m, seen := l.cache[key]; seen {
			if m.loading {
				err := l.cycleError(key)
				*errs = append(*errs, &Error{Text: fmt.Sprintf("%s: error: cannot load %s: %v", load.Module.TokenPos, module, err), Err: err})
			}
			continue
		}
		h.checkModule(l, key, display, src, errs)
	}
}

// checkModule checks one module while it is on the load stack.
func (h *Host) checkModule(l *loader, key, display string, src []byte, errs *[]error) {
	m := l.enter(key, display)
	h.checkFile(l, display, src, errs)
	l.leave()
	m.loading = false
}
