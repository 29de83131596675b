package main

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// usageErr runs the CLI and expects exit code 2 with msg in the error.
func usageErr(t *testing.T, msg string, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err := run(ctx, args, strings.NewReader(""), io.Discard, io.Discard)
	require.Error(t, err, args)
	assert.Equal(t, 2, exitCode(err, io.Discard), "%v: %v", args, err)
	assert.Contains(t, err.Error(), msg, args)
}

func TestServeRefusesHostileFlags(t *testing.T) {
	lo := []string{"--wechat-addr", "127.0.0.1:0", "--backend-addr", "127.0.0.1:0"}
	usageErr(t, "--appid and --secret must not be empty", append([]string{"serve", "--appid", "", "--secret", ""}, lo...)...)
	usageErr(t, "--appid and --secret must not be empty", append([]string{"serve", "--secret", ""}, lo...)...)
	usageErr(t, "/dev/zero: larger than 262144 bytes", append([]string{"serve", "--style", "/dev/zero"}, lo...)...)
	usageErr(t, "without an admin token", "serve", "--wechat-addr", "0.0.0.0:0", "--backend-addr", "127.0.0.1:0")
}

// serve --admin-token guards /__admin/… of both servers.
func TestServeAdminToken(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"serve", "--wechat-addr", "127.0.0.1:0", "--backend-addr", "127.0.0.1:0", "--admin-token", "s3cret"}, strings.NewReader(""), pw, io.Discard)
		pw.Close()
	}()
	urls := map[string]string{}
	var banner strings.Builder
	re := regexp.MustCompile(`^\s+(mock WeChat|reference backend):\s+(http://127\.0\.0\.1:\d+)`)
	sc := bufio.NewScanner(pr)
	for sc.Scan() {
		banner.WriteString(sc.Text() + "\n")
		if m := re.FindStringSubmatch(sc.Text()); m != nil {
			urls[m[1]] = m[2]
		}
		if strings.HasPrefix(sc.Text(), "Press Ctrl-C") {
			break
		}
	}
	go io.Copy(io.Discard, pr)
	require.Len(t, urls, 2)
	assert.NotContains(t, banner.String(), "s3cret", "the banner never prints the token")
	assert.Contains(t, banner.String(), "needs Authorization: Bearer")
	for _, u := range urls {
		resp, err := http.Get(u + "/__admin/stats")
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, 401, resp.StatusCode)
		req, _ := http.NewRequest("GET", u+"/__admin/stats", nil)
		req.Header.Set("Authorization", "Bearer s3cret")
		resp, err = http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, 200, resp.StatusCode)
	}
	cancel()
	select {
	case err := <-done:
		assert.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not shut down")
	}
}
