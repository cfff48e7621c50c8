package sqldb_test

import (
	"strings"
	"testing"

	"github.com/cairnhq/cairn/internal/sqldb"
)

func TestCheckURL(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		url  string
		want string // "" when accepted
	}{
		{"postgres://u:pw@127.0.0.1:5432/test", ""},
		{"postgresql://127.0.0.1/test", ""},
		{"sqlite:cairn.db", ""},
		{"file:/tmp/cairn.db", ""},
		{"cairn.db", ""},
		{"/var/lib/cairn/state.db", ""},
		{"mysql://cairn:hunter2@db:3306/cairn", `unsupported database URL scheme "mysql"; want postgres://`},
		{"MySQL://db/cairn", `unsupported database URL scheme "MySQL"`},
		{"redis://db", `scheme "redis"`},
		{"", "empty database URL"},
	} {
		err := sqldb.CheckURL(tt.url)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("CheckURL(%q) = %v, want nil", tt.url, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("CheckURL(%q) = %v, want %q", tt.url, err, tt.want)
		case err != nil && strings.Contains(err.Error(), "hunter2"):
			t.Errorf("CheckURL(%q) echoed the password: %v", tt.url, err)
		}
	}
	// Open refuses what CheckURL refuses, before touching anything.
	if _, err := sqldb.Open(t.Context(), "mysql://db/cairn"); err == nil || !strings.Contains(err.Error(), "sqlite:PATH") {
		t.Errorf("Open(mysql://…) = %v", err)
	}
}
