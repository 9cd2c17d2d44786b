package main

import (
	"embed"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// csrc holds the C reference programs, compiled at bench time with the
// machine's gcc so they match its kernel headers and CPU.
//
//go:embed c/*.c c/*.h
var csrc embed.FS

// staticSuffix names the statically linked build of a program.
const staticSuffix = "_static"

// staticPrograms are also linked with -static: the spawn reference's child,
// so the spawn figure can be compared with and without the dynamic loader.
var staticPrograms = []string{"spawn_child"}

// buildC compiles every embedded C program into dir (one binary per .c
// file, named after it) and returns the program names. A program in
// staticPrograms gets a second, static build when the C library allows it.
func buildC(dir string) ([]string, error) {
	gcc, err := exec.LookPath("gcc")
	if err != nil {
		return nil, fmt.Errorf("build C references: gcc not found: %w", err)
	}
	src := filepath.Join(dir, "src")
	if err := os.MkdirAll(src, 0o755); err != nil {
		return nil, fmt.Errorf("build C references: %w", err)
	}
	entries, err := fs.ReadDir(csrc, "c")
	if err != nil {
		return nil, fmt.Errorf("build C references: %w", err)
	}
	for _, e := range entries {
		data, err := csrc.ReadFile("c/" + e.Name())
		if err != nil {
			return nil, fmt.Errorf("build C references: %w", err)
		}
		if err := os.WriteFile(filepath.Join(src, e.Name()), data, 0o644); err != nil {
			return nil, fmt.Errorf("build C references: %w", err)
		}
	}
	var progs []string
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), ".c")
		if !ok {
			continue
		}
		in := filepath.Join(src, e.Name())
		if out, err := exec.Command(gcc, "-O2", "-Wall", "-pthread", "-o", filepath.Join(dir, name), in).CombinedOutput(); err != nil {
			return nil, fmt.Errorf("gcc %s: %w\n%s", e.Name(), err, out)
		}
		progs = append(progs, name)
	}
	for _, name := range staticPrograms {
		in := filepath.Join(src, name+".c")
		// No static libc is a reason to skip that row, not to fail the build.
		exec.Command(gcc, "-O2", "-static", "-o", filepath.Join(dir, name+staticSuffix), in).Run()
	}
	return progs, nil
}
