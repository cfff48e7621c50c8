// Package layout holds no code: its test checks that Cairn's packages
// depend on each other only in the directions DESIGN.md allows.
package layout
