package sqldb

// SetWALBackstop sets the WAL size at which SQLite writers opened from
// now on checkpoint themselves, and returns a function restoring it. Not
// for parallel tests.
func SetWALBackstop(pages int) (restore func()) {
	old := walBackstop
	walBackstop = pages
	return func() { walBackstop = old }
}
