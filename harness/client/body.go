package client

import "io"

// ReadBody is io.ReadAll starting with room for n bytes (a known
// Content-Length, or -1) rather than growing from 512: the clients and the
// storm read every body on their hot path.
func ReadBody(r io.Reader, n int64) ([]byte, error) {
	if n < 0 || n > 1<<20 {
		return io.ReadAll(r)
	}
	b := make([]byte, 0, n+1) // +1: EOF is seen without growing
	for {
		m, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+m]
		if err != nil {
			if err == io.EOF {
				err = nil
			}
			return b, err
		}
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)] // let append pick the larger capacity
		}
	}
}
