package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// stopGrace is how long a run may take to stop after SIGINT/SIGTERM (write
// what it measured, close its clients) before the process exits anyway.
const stopGrace = 5 * time.Second

// guardStop makes SIGINT/SIGTERM always end the process (SPEC §12): once ctx
// is cancelled by the first signal, a second signal, or stopGrace without run
// returning, exits with 130. Every phase is meant to stop on ctx by itself;
// this is the backstop for code that does not (a blocked system call, user
// code that ignores interrupts). The returned func disarms it.
func guardStop(ctx context.Context, grace time.Duration, stderr io.Writer, exit func(int)) (disarm func()) {
	done := make(chan struct{})
	go func() {
		select {
		case <-done:
			return
		case <-ctx.Done():
		}
		again := make(chan os.Signal, 1)
		signal.Notify(again, os.Interrupt, syscall.SIGTERM)
		defer signal.Stop(again)
		t := time.NewTimer(grace)
		defer t.Stop()
		select {
		case <-done:
		case <-again:
			fmt.Fprintln(stderr, "tokenstorm: second interrupt, exiting now")
			exit(130)
		case <-t.C:
			fmt.Fprintf(stderr, "tokenstorm: still stopping %s after the interrupt, exiting now\n", grace)
			exit(130)
		}
	}()
	return func() { close(done) }
}
