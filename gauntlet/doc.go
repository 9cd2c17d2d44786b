// Package gauntlet runs a matrix of cells (scenarios × topology presets ×
// kernels × scheduler flag profiles), each in a guest of its own, several
// at once, into a results directory that a rerun resumes and that shards
// of the same matrix, run anywhere, merge into.
//
// The matrix expands into cells in a fixed order (Matrix.Cells); a Shard
// keeps every Count-th of them, so the tasks of a Kubernetes Indexed Job,
// a Slurm array or a CI matrix, each told its index (FromEnv), cover every
// cell exactly once without talking to each other. Execute runs a shard's
// cells that have no record yet through a CellRunner (Guest boots one
// guest per cell; Host runs the script on this machine), storing each
// cell's ktstar result, its output and last its record (see store.go for
// the layout). Merge joins shards' directories; Results.WriteMatrix
// prints the scenario × preset summary; Pairs joins two runs' cells for
// ktstar compare.
//
// Nothing here schedules across machines: the job runner does.
package gauntlet
