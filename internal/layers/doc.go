// Package layers has no code: its test holds the import rules of the
// README's layout section, so that the section stays true.
package layers
