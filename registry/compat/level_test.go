package compat_test

import (
	"testing"

	"github.com/cairnhq/cairn/registry/compat"
)

// levels lists every level in the order of the constants and of the golden files.
var levels = []compat.Level{
	compat.Backward, compat.BackwardTransitive,
	compat.Forward, compat.ForwardTransitive,
	compat.Full, compat.FullTransitive,
	compat.None,
}

func TestParseLevel(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		want    compat.Level
		wantErr bool
	}{
		{name: "BACKWARD", want: compat.Backward},
		{name: "BACKWARD_TRANSITIVE", want: compat.BackwardTransitive},
		{name: "FORWARD", want: compat.Forward},
		{name: "FORWARD_TRANSITIVE", want: compat.ForwardTransitive},
		{name: "FULL", want: compat.Full},
		{name: "FULL_TRANSITIVE", want: compat.FullTransitive},
		{name: "NONE", want: compat.None},
		{name: "backward", want: compat.Backward},
		{name: "Full_Transitive", want: compat.FullTransitive},
		{name: "", wantErr: true},
		{name: "BACKWARDS", wantErr: true},
		{name: " FULL", wantErr: true},
		{name: "FULL-TRANSITIVE", wantErr: true},
		{name: "TRANSITIVE", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := compat.ParseLevel(tt.name)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("ParseLevel(%q) = %v, want an error", tt.name, got)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParseLevel(%q) = %v, %v; want %v", tt.name, got, err, tt.want)
			}
		})
	}
}

func TestLevelString(t *testing.T) {
	t.Parallel()
	for _, level := range levels {
		got, err := compat.ParseLevel(level.String())
		if err != nil || got != level {
			t.Errorf("ParseLevel(%q) = %v, %v; want %v", level.String(), got, err, level)
		}
	}
	if got, want := compat.Level(-1).String(), "Level(-1)"; got != want {
		t.Errorf("Level(-1).String() = %q, want %q", got, want)
	}
	var zero compat.Level
	if zero != compat.Backward {
		t.Errorf("zero Level = %v, want BACKWARD", zero)
	}
}
