// Package buildinfo reports what a binary was built from: its module
// version, the VCS revision and the Go version, as the Go toolchain
// recorded them.
package buildinfo

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// Info describes a build. The zero value is not useful; use Read.
type Info struct {
	// Version is the main module's version, or "devel" when the binary
	// was built from a work tree (go build, go run).
	Version string
	// Revision is the VCS revision the binary was built from, or
	// "unknown" when the toolchain recorded none.
	Revision string
	// Modified reports that the work tree had uncommitted changes.
	Modified bool
	// GoVersion is the Go toolchain that built the binary.
	GoVersion string
}

// Read returns the running binary's build information. It is safe for
// concurrent use.
func Read() Info {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return Info{Version: "devel", Revision: "unknown", GoVersion: runtime.Version()}
	}
	return fromBuildInfo(bi)
}

func fromBuildInfo(bi *debug.BuildInfo) Info {
	info := Info{Version: bi.Main.Version, Revision: "unknown", GoVersion: bi.GoVersion}
	if info.Version == "" || info.Version == "(devel)" {
		info.Version = "devel"
	}
	if info.GoVersion == "" {
		info.GoVersion = runtime.Version()
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			if s.Value != "" {
				info.Revision = s.Value
			}
		case "vcs.modified":
			info.Modified = s.Value == "true"
		}
	}
	return info
}

// RevisionLabel is the revision with "-modified" appended when the work
// tree had uncommitted changes; it has no spaces, so it fits a label value.
func (i Info) RevisionLabel() string {
	if i.Modified {
		return i.Revision + "-modified"
	}
	return i.Revision
}

// String is one line for a person: "cairn VERSION (revision REV, GOVERSION)".
func (i Info) String() string {
	return fmt.Sprintf("cairn %s (revision %s, %s)", i.Version, i.RevisionLabel(), i.GoVersion)
}
