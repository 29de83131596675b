package inputfile

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestReadDevZeroIsCapped(t *testing.T) {
	_, err := Read(context.Background(), "/dev/zero", 1<<16)
	require.Error(t, err)
	assert.True(t, IsTooLarge(err))
	assert.Contains(t, err.Error(), "/dev/zero: larger than 65536 bytes")
}

func TestReadStripsBOM(t *testing.T) {
	p := filepath.Join(t.TempDir(), "f.yaml")
	require.NoError(t, os.WriteFile(p, []byte("\xEF\xBB\xBFname: x\n"), 0o600))
	b, err := Read(context.Background(), p, 0)
	require.NoError(t, err)
	assert.Equal(t, "name: x\n", string(b))
}

func TestReadExactlyMaxIsFine(t *testing.T) {
	p := filepath.Join(t.TempDir(), "f")
	require.NoError(t, os.WriteFile(p, make([]byte, 100), 0o600))
	b, err := Read(context.Background(), p, 100)
	require.NoError(t, err)
	assert.Len(t, b, 100)
	_, err = Read(context.Background(), p, 99)
	assert.True(t, IsTooLarge(err))
}

func TestReadDirectory(t *testing.T) {
	_, err := Read(context.Background(), t.TempDir(), 0)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "is a directory")
}

func TestReadFIFOStopsOnCancel(t *testing.T) {
	p := filepath.Join(t.TempDir(), "fifo")
	require.NoError(t, syscall.Mkfifo(p, 0o600))
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { _, err := Read(ctx, p, 0); errc <- err }()
	// Cancelled once Read is blocked in open, not before it starts (Read
	// checks ctx first, which would pass without the blocked-open path).
	time.Sleep(100 * time.Millisecond)
	cancel()
	select {
	case err := <-errc:
		require.ErrorIs(t, err, context.Canceled)
	case <-time.After(5 * time.Second):
		t.Fatal("Read on a FIFO with no writer ignored cancellation")
	}
	// Release the blocked open so the goroutine ends with the test.
	if f, err := os.OpenFile(p, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
		_ = f.Close()
	}
}

func TestCheck(t *testing.T) {
	b, err := Check("inline", []byte("\xEF\xBB\xBFa: 1"), 10)
	require.NoError(t, err)
	assert.Equal(t, "a: 1", string(b))
	_, err = Check("inline", make([]byte, 11), 10)
	assert.EqualError(t, err, "inline: larger than 10 bytes (the limit for this input)")
}

func TestRereadable(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	require.NoError(t, syscall.Mkfifo(fifo, 0o600))
	err := Rereadable(fifo)
	require.Error(t, err)
	assert.Contains(t, err.Error(), fifo+": is a named pipe (FIFO), not a regular file")

	// A symlink to a FIFO (piped /dev/stdin is one) is followed.
	link := filepath.Join(dir, "link")
	require.NoError(t, os.Symlink(fifo, link))
	assert.ErrorContains(t, Rereadable(link), "is a named pipe")

	reg := filepath.Join(dir, "f.yaml")
	require.NoError(t, os.WriteFile(reg, []byte("a: 1\n"), 0o600))
	assert.NoError(t, Rereadable(reg))
	assert.NoError(t, Rereadable(filepath.Join(dir, "missing")))
	assert.NoError(t, Rereadable("/dev/zero"), "devices are left to the size cap")
}
