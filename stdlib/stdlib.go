// Package stdlib embeds ktstar's library of Starlark modules, loaded by
// scripts as load("@stdlib//NAME.star", ...).
package stdlib

import "embed"

// FS holds every *.star module of the library, by file name.
//
//go:embed *.star
var FS embed.FS
