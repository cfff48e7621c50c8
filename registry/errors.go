package registry

import (
	"errors"
	"fmt"

	"github.com/cairnhq/cairn/registry/regclient"
)

// storeError wraps a database failure; its text stays in the logs.
func storeError(op string, err error) error {
	return &wrapped{public: regclient.Error{Code: regclient.CodeStore, Message: "error in the backend data store"}, op: op, err: err}
}

// wrapped is an Error that keeps its cause for logs.
type wrapped struct {
	public regclient.Error
	op     string
	err    error
}

func (w *wrapped) Error() string { return fmt.Sprintf("%s: %v", w.op, w.err) }
func (w *wrapped) Unwrap() error { return w.err }

// AsError returns the *regclient.Error that err carries, or a store error
// for any other failure.
func AsError(err error) *regclient.Error {
	var e *regclient.Error
	if errors.As(err, &e) {
		return e
	}
	var w *wrapped
	if errors.As(err, &w) {
		return &w.public
	}
	return &regclient.Error{Code: regclient.CodeStore, Message: "error in the backend data store"}
}
