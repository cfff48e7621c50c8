package main

import (
	"context"
	"fmt"
	"io"

	"github.com/cairnhq/cairn/internal/buildinfo"
)

// runVersion prints the version and VCS revision the binary was built from.
func runVersion(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("version", "", "Prints the version and VCS revision cairn was built from.", stderr)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("want no arguments, got %d", fs.NArg())}
	}
	fmt.Fprintln(stdout, buildinfo.Read())
	return nil
}
