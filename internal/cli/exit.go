package cli

import "errors"

// ExitError carries a process exit code, for commands such as wait and
// guard whose exit status is part of their interface.
type ExitError struct {
	Code int
	Err  error
}

// Error returns the message of the error carried, or "exit status".
func (e *ExitError) Error() string {
	if e.Err == nil {
		return "exit status"
	}
	return e.Err.Error()
}

// Unwrap returns the error carried.
func (e *ExitError) Unwrap() error { return e.Err }

// ExitCode returns the exit status for err: the code of an ExitError, 1
// for any other error, 0 for nil.
func ExitCode(err error) int {
	var e *ExitError
	if errors.As(err, &e) {
		return e.Code
	}
	if err != nil {
		return 1
	}
	return 0
}
