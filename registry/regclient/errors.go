package regclient

import (
	"errors"
	"fmt"
)

// ErrNotFound is returned (wrapped) when a message type or schema id is not
// registered.
var ErrNotFound = errors.New("not registered")

// Error is a registry failure with its Confluent Schema Registry error code.
// The registry's REST API sends it as {"error_code": Code, "message":
// Message} with the HTTP status Code's first three digits; its gRPC API
// carries Code in a google.rpc.ErrorInfo detail of domain ErrorDomain, which
// Remote turns back into an *Error.
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

// Errorf returns an *Error with code and a formatted message.
func Errorf(code int, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorDomain is the domain of the google.rpc.ErrorInfo details the
// registry's gRPC API sends with its errors; their metadata "error_code" is
// the Confluent code.
const ErrorDomain = "registry.cairn"

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

// IsNotFound reports whether err says a subject, version, schema or message
// type does not exist.
func IsNotFound(err error) bool {
	if errors.Is(err, ErrNotFound) {
		return true
	}
	var e *Error
	return errors.As(err, &e) && e.Code/100 == 404
}
