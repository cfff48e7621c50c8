package buildinfo

import (
	"runtime/debug"
	"testing"
)

func TestFromBuildInfo(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		bi   debug.BuildInfo
		want Info
	}{
		{
			name: "work tree build with a clean checkout",
			bi: debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Version: "(devel)"}, Settings: []debug.BuildSetting{
				{Key: "vcs.revision", Value: "9e58086abc"}, {Key: "vcs.modified", Value: "false"},
			}},
			want: Info{Version: "devel", Revision: "9e58086abc", GoVersion: "go1.26.0"},
		},
		{
			name: "modified work tree",
			bi: debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Version: "(devel)"}, Settings: []debug.BuildSetting{
				{Key: "vcs.revision", Value: "abc"}, {Key: "vcs.modified", Value: "true"},
			}},
			want: Info{Version: "devel", Revision: "abc", Modified: true, GoVersion: "go1.26.0"},
		},
		{
			name: "go install of a tagged version, no VCS stamp",
			bi:   debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Version: "v1.2.3"}},
			want: Info{Version: "v1.2.3", Revision: "unknown", GoVersion: "go1.26.0"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := fromBuildInfo(&tt.bi); got != tt.want {
				t.Errorf("fromBuildInfo = %+v, want %+v", got, tt.want)
			}
		})
	}
	if got := (Info{Version: "devel", Revision: "abc", Modified: true, GoVersion: "go1.26.0"}).String(); got != "cairn devel (revision abc-modified, go1.26.0)" {
		t.Errorf("String = %q", got)
	}
}
