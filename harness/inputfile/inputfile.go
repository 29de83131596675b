// Package inputfile reads the files users hand to tokenstorm (scenarios,
// styles, feature files) with the limits SPEC §12 asks for: a size cap, so
// /dev/zero or a runaway generator is a clear error instead of unbounded
// memory; cancellation, so a FIFO nobody writes to does not make SIGINT
// useless; and a leading UTF-8 byte order mark removed, so editors that add
// one do not turn the first key into "\ufeffname".
package inputfile

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
)

// DefaultMax is the cap used by Read when max <= 0: far above any real
// scenario, style or feature file, far below what would hurt the machine.
const DefaultMax = 4 << 20

// bom is the UTF-8 encoding of U+FEFF.
var bom = []byte{0xEF, 0xBB, 0xBF}

// TooLargeError says a file exceeded its cap.
type TooLargeError struct {
	Path string
	Max  int64
}

func (e *TooLargeError) Error() string {
	return fmt.Sprintf("%s: larger than %d bytes (the limit for this input)", e.Path, e.Max)
}

// Read returns the content of path, at most max bytes (DefaultMax when
// max <= 0), without a leading BOM. It returns ctx.Err() as soon as ctx ends,
// even while open or read is blocked (a FIFO with no writer): the blocked
// goroutine is left to finish on its own, which is acceptable because a
// cancelled read means the process is about to exit.
func Read(ctx context.Context, path string, max int64) ([]byte, error) {
	if max <= 0 {
		max = DefaultMax
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("%s: reading stopped: %w", path, err)
	}
	type result struct {
		data []byte
		err  error
	}
	done := make(chan result, 1)
	go func() {
		b, err := readCapped(path, max)
		done <- result{b, err}
	}()
	select {
	case r := <-done:
		return r.data, r.err
	case <-ctx.Done():
		return nil, fmt.Errorf("%s: reading stopped: %w", path, ctx.Err())
	}
}

func readCapped(path string, max int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil {
		if fi.IsDir() {
			return nil, fmt.Errorf("%s: is a directory, not a file", path)
		}
		if fi.Mode().IsRegular() && fi.Size() > max {
			return nil, &TooLargeError{Path: path, Max: max} // without reading it
		}
	}
	b, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > max {
		return nil, &TooLargeError{Path: path, Max: max}
	}
	return StripBOM(b), nil
}

// Rereadable returns an error naming path when it is a named pipe or a
// socket: its content is gone once read, so an input that several parts of a
// run read again (a style) would hang on the second open or see nothing. It
// follows symlinks, so /dev/stdin redirected from a file is fine and piped
// /dev/stdin is not. A path that does not exist is not its business (nil).
func Rereadable(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return nil
	}
	switch m := fi.Mode(); {
	case m&os.ModeNamedPipe != 0:
		return fmt.Errorf("%s: is a named pipe (FIFO), not a regular file: this input is read more than once; save it to a file", path)
	case m&os.ModeSocket != 0:
		return fmt.Errorf("%s: is a socket, not a regular file: this input is read more than once; save it to a file", path)
	}
	return nil
}

// Check applies Read's limits to data already in memory (an inline style in
// a request body, a file handed over by a test): it strips the BOM and
// refuses more than max bytes.
func Check(name string, data []byte, max int64) ([]byte, error) {
	if max <= 0 {
		max = DefaultMax
	}
	if int64(len(data)) > max {
		return nil, &TooLargeError{Path: name, Max: max}
	}
	return StripBOM(data), nil
}

// StripBOM removes one leading UTF-8 byte order mark.
func StripBOM(b []byte) []byte { return bytes.TrimPrefix(b, bom) }

// IsTooLarge reports whether err is (or wraps) a *TooLargeError.
func IsTooLarge(err error) bool {
	var t *TooLargeError
	return errors.As(err, &t)
}
