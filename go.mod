module github.com/ktstar/ktstar

go 1.26.0

require (
	github.com/fatih/color v1.19.0
	github.com/prometheus/procfs v0.23.0
	github.com/spf13/pflag v1.0.10
	go.starlark.net v0.0.0-20260908191801-89a6a09411d5
	golang.org/x/sys v0.49.0
	golang.org/x/term v0.47.0
)

require (
	github.com/mattn/go-colorable v0.1.14 // indirect
	github.com/mattn/go-isatty v0.0.20 // indirect
)
