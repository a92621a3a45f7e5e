// Package exitcode defines the exit codes every kubectl zdd command uses and
// the error types that carry them from library code up to main.
//
//	0  success
//	1  the operation failed (and, where it applies, the previous state was restored),
//	   or lint found problems at or above --fail-on
//	2  bad input or usage; nothing was changed
//	3  an operation could neither finish nor restore the previous state: a person is needed
package exitcode

import (
	"errors"
	"fmt"
)

const (
	OK          = 0
	Failed      = 1
	Usage       = 2
	NeedsPerson = 3
)

// Error is an error that carries the process exit code it should produce.
type Error struct {
	Code int
	Err  error
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

func wrap(code int, err error) error {
	if err == nil {
		return nil
	}
	return &Error{Code: code, Err: err}
}

// UsageError marks err as bad input (exit 2).
func UsageError(err error) error { return wrap(Usage, err) }

// FailedError marks err as a failed operation (exit 1).
func FailedError(err error) error { return wrap(Failed, err) }

// NeedsPersonError marks err as an operation left in a state that needs a person (exit 3).
func NeedsPersonError(err error) error { return wrap(NeedsPerson, err) }

// Usagef formats a bad-input error (exit 2).
func Usagef(format string, a ...any) error { return UsageError(fmt.Errorf(format, a...)) }

// Failedf formats a failed-operation error (exit 1).
func Failedf(format string, a ...any) error { return FailedError(fmt.Errorf(format, a...)) }

// NeedsPersonf formats an error that needs a person (exit 3).
func NeedsPersonf(format string, a ...any) error { return NeedsPersonError(fmt.Errorf(format, a...)) }

// Silent is returned when the command already printed everything the user
// needs (lint findings, for example) and only the exit code remains.
type Silent struct{ Code int }

func (s *Silent) Error() string { return fmt.Sprintf("exit status %d", s.Code) }

// Of returns the exit code for err: 0 for nil, the carried code for an
// *Error or *Silent (the outermost wins), and 1 for any other error.
func Of(err error) int {
	if err == nil {
		return OK
	}
	var s *Silent
	var e *Error
	switch {
	case errors.As(err, &e):
		return e.Code
	case errors.As(err, &s):
		return s.Code
	}
	return Failed
}

// IsSilent reports whether err asks for no message to be printed.
func IsSilent(err error) bool {
	var s *Silent
	var e *Error
	return errors.As(err, &s) && !errors.As(err, &e)
}
