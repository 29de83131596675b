package conform

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"mime"
	"reflect"
	"strconv"
	"strings"

	"github.com/tokenstorm/tokenstorm/mockwechat"
)

// Assertions on the last direct answer. Their failures show the answer
// itself (and the recent ledger), which is the evidence for a fidelity check.

func (w *world) respFail(what string, a *answer, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...) + "\nlast answer: " + a.describe()
	return w.fail(what, msg, w.recentEvents(8))
}

func (w *world) respStatus(_ context.Context, s string) error {
	want, err := count("status", s, 100, 599)
	if err != nil {
		return err
	}
	a, err := w.last()
	if err != nil {
		return err
	}
	if a.Status != want {
		return w.respFail("response status", a, "the response status is %d, want %d", a.Status, want)
	}
	return nil
}

// errcodeOf reads WeChat's errcode member; ok is false when there is none.
func errcodeOf(a *answer) (int, bool, error) {
	v, ok := a.JSON["errcode"]
	if !ok {
		return 0, false, nil
	}
	n, isNum := v.(json.Number)
	if !isNum {
		return 0, true, fmt.Errorf("errcode is %v, not a number", v)
	}
	i, err := strconv.Atoi(n.String())
	return i, true, err
}

func (w *world) respErrcode(_ context.Context, n string) error {
	want, err := strconv.Atoi(n)
	if err != nil {
		return fmt.Errorf("errcode %q is not a number", n)
	}
	a, err := w.last()
	if err != nil {
		return err
	}
	what := "WeChat errcode " + n
	if a.Status != 200 {
		return w.respFail(what, a, "WeChat answers errors with HTTP 200 and an errcode body, got HTTP %d", a.Status)
	}
	got, ok, err := errcodeOf(a)
	switch {
	case a.JSON == nil:
		return w.respFail(what, a, "the answer is not a JSON object")
	case err != nil:
		return w.respFail(what, a, "%v", err)
	case !ok:
		return w.respFail(what, a, "the answer has no errcode, want errcode %d", want)
	case got != want:
		return w.respFail(what, a, "WeChat answered errcode %d (%s), want %d (%s)", got, mockwechat.Errmsg(got), want, mockwechat.Errmsg(want))
	}
	if want != 0 {
		msg, _ := a.JSON["errmsg"].(string)
		if !strings.Contains(msg, "rid: ") {
			return w.respFail(what, a, "errmsg %q does not end with a \"rid: …\" as WeChat's error messages do", msg)
		}
	}
	return nil
}

func mediaType(a *answer) string {
	mt, _, _ := mime.ParseMediaType(a.Header.Get("Content-Type"))
	return mt
}

func (w *world) respNoErrcode(_ context.Context, ct string) error {
	a, err := w.last()
	if err != nil {
		return err
	}
	what := "success shape " + ct
	if mt := mediaType(a); mt != ct {
		return w.respFail(what, a, "the Content-Type is %q, want %s", a.Header.Get("Content-Type"), ct)
	}
	if a.JSON == nil {
		return w.respFail(what, a, "the body is not a JSON object")
	}
	if _, ok := a.JSON["errcode"]; ok {
		return w.respFail(what, a, "a successful answer must have no errcode key at all (SPEC §3)")
	}
	return nil
}

func (w *world) respContentType(_ context.Context, ct string) error {
	a, err := w.last()
	if err != nil {
		return err
	}
	if mt := mediaType(a); mt != ct {
		return w.respFail("content type "+ct, a, "the Content-Type is %q, want %s", a.Header.Get("Content-Type"), ct)
	}
	return nil
}

// lookup reads a dotted member of a JSON object.
func lookup(m map[string]any, path string) (any, bool) {
	var cur any = m
	for _, k := range strings.Split(path, ".") {
		obj, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = obj[k]; !ok {
			return nil, false
		}
	}
	return cur, true
}

func (w *world) respHasFields(_ context.Context, list string) error {
	a, err := w.last()
	if err != nil {
		return err
	}
	if a.JSON == nil {
		return w.respFail("fields "+list, a, "the body is not a JSON object")
	}
	var missing []string
	for _, f := range strings.Split(list, ",") {
		f = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(f), "and "))
		if f == "" {
			continue
		}
		v, ok := lookup(a.JSON, f)
		if !ok || v == nil || v == "" {
			missing = append(missing, f)
		}
	}
	if len(missing) > 0 {
		return w.respFail("fields "+list, a, "the answer lacks (or has empty) %s", strings.Join(missing, ", "))
	}
	return nil
}

func (w *world) respNoField(_ context.Context, f string) error {
	a, err := w.last()
	if err != nil {
		return err
	}
	if _, ok := lookup(a.JSON, f); ok {
		return w.respFail("no field "+f, a, "the answer has a %s member, want none", f)
	}
	return nil
}

// parseValue reads a step's expected value: JSON when it parses, else the
// bare text as a string.
func parseValue(s string) any {
	s = strings.TrimSpace(s)
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err == nil && !dec.More() {
		return v
	}
	return s
}

func sameValue(a, b any) bool {
	if na, ok := a.(json.Number); ok {
		if nb, ok := b.(json.Number); ok {
			fa, ea := na.Float64()
			fb, eb := nb.Float64()
			return ea == nil && eb == nil && fa == fb
		}
	}
	return reflect.DeepEqual(a, b)
}

func show(v any) string {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if enc.Encode(v) != nil {
		return fmt.Sprint(v)
	}
	return strings.TrimSpace(buf.String())
}

func (w *world) respFieldIs(_ context.Context, f, v string) error {
	a, err := w.last()
	if err != nil {
		return err
	}
	want := parseValue(v)
	got, ok := lookup(a.JSON, f)
	if !ok {
		return w.respFail("field "+f, a, "the answer has no %s member, want %s", f, show(want))
	}
	if !sameValue(got, want) {
		return w.respFail("field "+f, a, "%s is %s, want %s", f, show(got), show(want))
	}
	return nil
}

func (w *world) respFieldContains(_ context.Context, f, text string) error {
	a, err := w.last()
	if err != nil {
		return err
	}
	got, ok := lookup(a.JSON, f)
	s, isStr := got.(string)
	if !ok || !isStr {
		return w.respFail("field "+f, a, "the answer has no string member %s", f)
	}
	if !strings.Contains(s, text) {
		return w.respFail("field "+f, a, "%s is %q, want it to contain %q", f, s, text)
	}
	return nil
}

func (w *world) respHeaderContains(_ context.Context, h, text string) error {
	a, err := w.last()
	if err != nil {
		return err
	}
	got := strings.Join(a.Header.Values(h), ", ")
	if !strings.Contains(got, text) {
		return w.respFail("header "+h, a, "header %s is %q, want it to contain %q", h, got, text)
	}
	return nil
}

func (w *world) respHasHeader(_ context.Context, h string) error {
	a, err := w.last()
	if err != nil {
		return err
	}
	if a.Header.Get(h) == "" {
		return w.respFail("header "+h, a, "the answer has no %s header", h)
	}
	return nil
}

func (w *world) respOpenID(_ context.Context, dev string) error {
	a, err := w.last()
	if err != nil {
		return err
	}
	got, _ := a.JSON["openid"].(string)
	if want := w.openid(dev); got != want {
		return w.respFail("stable openid", a, "openid is %q, want %q (the stable openid of %s in this app)", got, want, dev)
	}
	return nil
}

func (w *world) respCompare(_ context.Context, n, mode, field string) error {
	k, err := count("answer count", n, 2, 1000)
	if err != nil {
		return err
	}
	w.mu.Lock()
	var picked []*answer
	for i := len(w.answers) - 1; i >= 0 && len(picked) < k; i-- {
		if _, ok := lookup(w.answers[i].JSON, field); ok {
			picked = append(picked, w.answers[i])
		}
	}
	w.mu.Unlock()
	if len(picked) < k {
		return fmt.Errorf("only %d direct answers so far have a %s member, want %d", len(picked), field, k)
	}
	seen := map[string]int{}
	var lines []string
	for _, a := range picked {
		v, _ := lookup(a.JSON, field)
		seen[show(v)]++
		lines = append(lines, "  "+a.describe())
	}
	what := fmt.Sprintf("the last %d answers have %s %s", k, mode, field)
	if mode == "the same" && len(seen) != 1 {
		return w.fail(what, fmt.Sprintf("%s: found %d different values\n%s", what, len(seen), strings.Join(lines, "\n")), nil)
	}
	if mode == "different" && len(seen) != k {
		return w.fail(what, fmt.Sprintf("%s: some values repeat\n%s", what, strings.Join(lines, "\n")), nil)
	}
	return nil
}
