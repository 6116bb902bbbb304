package hub

import (
	"errors"
	"fmt"
)

// Code is a stable, machine-readable error code. Front ends map each code
// to a transport status (HTTP status, MCP tool error) in one table.
type Code string

// Error codes. Their string values are part of the public API.
const (
	CodeInvalid         Code = "invalid_argument"
	CodeInvalidName     Code = "invalid_name"
	CodeUnauthenticated Code = "unauthenticated"
	CodeForbidden       Code = "forbidden"
	CodeNotFound        Code = "not_found"
	CodeNameTaken       Code = "name_taken"
	CodeConflict        Code = "conflict"
	CodeTooLarge        Code = "too_large"
	CodeRateLimited     Code = "rate_limited"
	CodeUnavailable     Code = "unavailable"
	CodeInternal        Code = "internal"
)

// Error is a domain error: a stable code and a message safe to show to
// the caller. Cause, when set, is the internal reason; it is for logs and
// never sent to clients.
type Error struct {
	Code    Code
	Message string
	Cause   error
}

// Error returns the message, with the cause when there is one. It is for
// logs: clients get PublicMessage.
func (e *Error) Error() string {
	if e.Cause != nil {
		return e.Message + ": " + e.Cause.Error()
	}
	return e.Message
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Cause }

// Is reports whether target is an *Error with the same code, so that
// errors.Is(err, hub.ErrNotFound) matches any not-found error.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Message == "" && t.Code == e.Code
}

// Sentinels for errors.Is; they carry only a code.
var (
	ErrInvalid         = &Error{Code: CodeInvalid}
	ErrInvalidName     = &Error{Code: CodeInvalidName}
	ErrUnauthenticated = &Error{Code: CodeUnauthenticated}
	ErrForbidden       = &Error{Code: CodeForbidden}
	ErrNotFound        = &Error{Code: CodeNotFound}
	ErrNameTaken       = &Error{Code: CodeNameTaken}
	ErrConflict        = &Error{Code: CodeConflict}
	ErrTooLarge        = &Error{Code: CodeTooLarge}
	ErrRateLimited     = &Error{Code: CodeRateLimited}
	ErrUnavailable     = &Error{Code: CodeUnavailable}
)

// Errorf returns an *Error with the given code and a formatted message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of err: the code of the first *Error in its
// chain, or CodeInternal for anything else.
func ErrorCode(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return CodeInternal
}

// PublicMessage returns the message of err that is safe to send to a
// client. Internal failures get a generic text; their cause stays in logs.
func PublicMessage(err error) string {
	var e *Error
	if errors.As(err, &e) && e.Message != "" {
		return e.Message
	}
	return "internal error"
}
