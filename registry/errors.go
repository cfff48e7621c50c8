package registry

import (
	"errors"
	"fmt"
)

// Error is a registry failure with its Confluent Schema Registry error code.
// The REST API sends it as {"error_code": Code, "message": Message} with the
// HTTP status Code's first three digits; the gRPC API maps it to a status.
type Error struct {
	Code    int
	Message string
}

func (e *Error) Error() string { return e.Message }

// HTTPStatus is the HTTP status that goes with the error code.
func (e *Error) HTTPStatus() int {
	s := e.Code
	for s >= 1000 {
		s /= 10
	}
	return s
}

// Confluent Schema Registry's error codes.
const (
	CodeUnauthorized          = 40101
	CodeForbidden             = 40301
	CodeSubjectNotFound       = 40401
	CodeVersionNotFound       = 40402
	CodeSchemaNotFound        = 40403
	CodeSubjectSoftDeleted    = 40404
	CodeSubjectNotSoftDeleted = 40405
	CodeVersionSoftDeleted    = 40406
	CodeVersionNotSoftDeleted = 40407
	CodeSubjectConfigNotFound = 40408
	CodeSubjectModeNotFound   = 40409
	CodeIncompatible          = 409
	CodeInvalidSchema         = 42201
	CodeInvalidVersion        = 42202
	CodeInvalidCompatibility  = 42203
	CodeInvalidMode           = 42204
	CodeOperationNotPermitted = 42205
	CodeReferenceExists       = 42206
	CodeInvalidSubject        = 42208
	CodeRequestTooLarge       = 42209
	CodeStore                 = 50001
)

func newError(code int, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// storeError wraps a database failure; its text stays in the logs.
func storeError(op string, err error) error {
	return &wrapped{public: Error{Code: CodeStore, Message: "error in the backend data store"}, op: op, err: err}
}

// wrapped is an Error that keeps its cause for logs.
type wrapped struct {
	public Error
	op     string
	err    error
}

func (w *wrapped) Error() string { return fmt.Sprintf("%s: %v", w.op, w.err) }
func (w *wrapped) Unwrap() error { return w.err }

// AsError returns the *Error that err carries, or a store error for any other
// failure.
func AsError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	var w *wrapped
	if errors.As(err, &w) {
		return &w.public
	}
	return &Error{Code: CodeStore, Message: "error in the backend data store"}
}

// IsNotFound reports whether err says a subject, version or schema does not
// exist.
func IsNotFound(err error) bool {
	if errors.Is(err, ErrNotFound) {
		return true
	}
	e := AsError(err)
	return e.Code/100 == 404
}
