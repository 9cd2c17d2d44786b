// Package clip bounds what an error message quotes of a value, so that a
// huge string or list in a script cannot make a message of megabytes.
package clip

import (
	"fmt"
	"regexp"
)

// Max is how many characters of a value an error message quotes.
const Max = 200

// String shortens s to Max characters, saying how many it left out.
func String(s string) string {
	r := []rune(s)
	if len(r) <= Max {
		return s
	}
	return fmt.Sprintf("%s… (%d more characters)", string(r[:Max]), len(r)-Max)
}

// quoted matches a double-quoted string with backslash escapes, as %q
// and Starlark print them.
var quoted = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)

// Quoted clips every double-quoted string in msg that is longer than Max
// characters, keeping its opening quote.
func Quoted(msg string) string {
	if len(msg) <= Max {
		return msg
	}
	return quoted.ReplaceAllStringFunc(msg, func(q string) string {
		if len([]rune(q)) <= Max {
			return q
		}
		return String(q)
	})
}
