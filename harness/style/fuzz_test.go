package style

import (
	"strings"
	"testing"
)

// FuzzStyle: any document is a valid style (with the routes a backend needs)
// or a located error; never a panic. Seeds: every built-in (v1 and v2) and
// hostile inputs.
func FuzzStyle(f *testing.F) {
	for _, n := range Names() {
		if b, err := builtinFS.ReadFile("builtin/" + n + ".yaml"); err == nil {
			f.Add(b)
		}
	}
	for _, s := range []string{
		"\xEF\xBB\xBFname: x\n", "a: &a [*a]\n", strings.Repeat("{", 300), "name: [1, 2]\n", "---\n---\n",
		"x0: &a0 [q, q, q, q, q, q, q, q, q, q]\nx1: &a1 [*a0, *a0, *a0, *a0, *a0, *a0, *a0, *a0, *a0, *a0]\nx2: [*a1, *a1, *a1, *a1, *a1, *a1, *a1, *a1, *a1, *a1]\n",
		"version: 2\nroutes: {login: {path: /l, method: GET, code: {in: query, name: c}}}\n", "\x00", "version: 99\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		st, err := Parse("fuzz.yaml", data)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "fuzz.yaml") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		if st.Routes.Login == "" || st.Routes.Resource == "" {
			t.Fatalf("accepted a style without login or resource routes: %+v", st.Routes)
		}
	})
}
