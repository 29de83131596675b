//go:build !linux

package execclient

// killTagged needs /proc; elsewhere the process group kill is all there is.
func killTagged(string) {}

// stdoutGoneWatch needs /proc: without it a closed stdout under sh is seen
// when sh exits.
func (c *Client) stdoutGoneWatch(chan<- struct{}) {}
