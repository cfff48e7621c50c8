package compat

import (
	"fmt"
	"strconv"
	"strings"
)

// Level is a compatibility level, as set per subject or globally. Its zero
// value is Backward, the registry's default. A Level is a plain value and safe
// for concurrent use.
type Level int

// The compatibility levels. BACKWARD: a consumer using the new schema can read
// data written with the previous one. FORWARD: a consumer using the previous
// schema can read data written with the new one. FULL: both. The transitive
// levels compare with every existing version instead of the latest only.
// NONE accepts every change.
const (
	Backward Level = iota
	BackwardTransitive
	Forward
	ForwardTransitive
	Full
	FullTransitive
	None
)

var levelNames = [...]string{
	Backward:           "BACKWARD",
	BackwardTransitive: "BACKWARD_TRANSITIVE",
	Forward:            "FORWARD",
	ForwardTransitive:  "FORWARD_TRANSITIVE",
	Full:               "FULL",
	FullTransitive:     "FULL_TRANSITIVE",
	None:               "NONE",
}

// ParseLevel returns the level named name, such as "BACKWARD" or
// "full_transitive". Like Confluent, it ignores case. It returns an error for
// any other name.
func ParseLevel(name string) (Level, error) {
	upper := strings.ToUpper(name)
	for l, n := range levelNames {
		if n == upper {
			return Level(l), nil
		}
	}
	return 0, fmt.Errorf("unknown compatibility level %q", name)
}

// String returns the level's name as the REST API spells it, such as
// "BACKWARD_TRANSITIVE".
func (l Level) String() string {
	if l >= 0 && int(l) < len(levelNames) {
		return levelNames[l]
	}
	return "Level(" + strconv.Itoa(int(l)) + ")"
}

// known reports whether l is one of the constants.
func (l Level) known() bool { return l >= 0 && int(l) < len(levelNames) }

// backward reports whether l makes the candidate read the existing versions'
// data. Unknown levels check as FULL_TRANSITIVE, the strictest.
func (l Level) backward() bool {
	return l == Backward || l == BackwardTransitive || l == Full || l == FullTransitive || !l.known()
}

// forward reports whether l makes the existing versions read the candidate's
// data.
func (l Level) forward() bool {
	return l == Forward || l == ForwardTransitive || l == Full || l == FullTransitive || !l.known()
}

// transitive reports whether l compares with every existing version.
func (l Level) transitive() bool {
	return l == BackwardTransitive || l == ForwardTransitive || l == FullTransitive || !l.known()
}
