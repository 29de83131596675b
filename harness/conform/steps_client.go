package conform

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/cucumber/godog"

	"github.com/tokenstorm/tokenstorm/harness/device"
)

// reqSpec is one request a step asks the client under test to send.
type reqSpec struct {
	dev, method, path, name string
	body                    []byte
	ctype                   string
}

// sendAll issues specs at once through the client under test and, unless
// background, waits until every one settled (the driver's deadline bounds
// that). It returns the request names in spec order.
func (w *world) sendAll(ctx context.Context, specs []reqSpec, background bool) ([]string, error) {
	drv, err := w.driver(ctx)
	if err != nil {
		return nil, err
	}
	names := make([]string, len(specs))
	for i := range specs {
		// Features write resources under /api/ in every style: the style
		// says where they live ("/v1/orders" in body-code).
		specs[i].path = w.r.sty.ResourcePath(specs[i].path)
	}
	for i, s := range specs {
		w.declare(s.dev)
		if names[i], err = w.reserve(s.name, s.dev, s.method, s.path); err != nil {
			return nil, err
		}
	}
	var local sync.WaitGroup
	for i, s := range specs {
		name := names[i]
		req := device.Request{Method: s.method, Path: s.path, Body: s.body}
		if s.ctype != "" {
			req.Header = http.Header{"Content-Type": {s.ctype}}
		}
		local.Add(1)
		w.bg.add()
		go func() {
			defer w.bg.done()
			defer local.Done()
			w.settled(name, drv.DoID(ctx, w.user(s.dev), w.rid(name), req))
		}()
	}
	if !background {
		local.Wait()
	}
	return names, nil
}

func (w *world) send(ctx context.Context, dev, m, path, name string) error {
	_, err := w.sendAll(ctx, []reqSpec{{dev: dev, method: m, path: path, name: name}}, false)
	return err
}

func (w *world) sendBody(ctx context.Context, dev, m, path, name string, doc *godog.DocString) error {
	body, ctype := docBody(doc)
	_, err := w.sendAll(ctx, []reqSpec{{dev: dev, method: m, path: path, name: name, body: body, ctype: ctype}}, false)
	return err
}

func (w *world) sendEach(ctx context.Context, k, m, path string) error {
	return w.sendEachBody(ctx, k, m, path, nil)
}

func (w *world) sendEachBody(ctx context.Context, k, m, path string, doc *godog.DocString) error {
	n, err := count("concurrency", k, 1, 10000)
	if err != nil {
		return err
	}
	devs := w.declaredDevices()
	if len(devs) == 0 {
		return fmt.Errorf("no devices declared yet: start with e.g. \"Given 5 devices logged in\"")
	}
	body, ctype := docBody(doc)
	var specs []reqSpec
	for _, d := range devs {
		for i := 0; i < n; i++ {
			specs = append(specs, reqSpec{dev: d, method: m, path: path, body: body, ctype: ctype})
		}
	}
	_, err = w.sendAll(ctx, specs, false)
	return err
}

func (w *world) sendConcurrent(ctx context.Context, dev, k, m, path string) error {
	return w.sendConcurrentBody(ctx, dev, k, m, path, nil)
}

func (w *world) sendConcurrentBody(ctx context.Context, dev, k, m, path string, doc *godog.DocString) error {
	n, err := count("concurrency", k, 1, 10000)
	if err != nil {
		return err
	}
	body, ctype := docBody(doc)
	specs := make([]reqSpec, n)
	for i := range specs {
		specs[i] = reqSpec{dev: dev, method: m, path: path, body: body, ctype: ctype}
	}
	_, err = w.sendAll(ctx, specs, false)
	return err
}

func (w *world) sendBackground(ctx context.Context, dev, m, path, name string) error {
	return w.sendBackgroundBody(ctx, dev, m, path, name, nil)
}

func (w *world) sendBackgroundBody(ctx context.Context, dev, m, path, name string, doc *godog.DocString) error {
	body, ctype := docBody(doc)
	_, err := w.sendAll(ctx, []reqSpec{{dev: dev, method: m, path: path, name: name, body: body, ctype: ctype}}, true)
	return err
}

func (w *world) sendTable(ctx context.Context, dev string, t *godog.Table) error {
	return w.sendRows(ctx, dev, t)
}

// sendDevicesTable: the table names each row's device.
func (w *world) sendDevicesTable(ctx context.Context, t *godog.Table) error {
	return w.sendRows(ctx, "", t)
}

// sendRows sends a request table at once; with dev "" every row names its
// device in a "device" column.
func (w *world) sendRows(ctx context.Context, dev string, t *godog.Table) error {
	cols := "method, path, body, as"
	need := []string{"method", "path"}
	if dev == "" {
		cols = "device, " + cols
		need = append([]string{"device"}, need...)
	}
	if t == nil || len(t.Rows) < 2 {
		return fmt.Errorf("the request table needs a header row (%s) and at least one request", cols)
	}
	col := map[string]int{}
	for i, c := range t.Rows[0].Cells {
		col[strings.TrimSpace(c.Value)] = i
	}
	for _, n := range need {
		if _, ok := col[n]; !ok {
			return fmt.Errorf("the request table has no %q column (columns: %s)", n, cols)
		}
	}
	cell := func(r *godog.Table, row int, name string) string {
		i, ok := col[name]
		if !ok || i >= len(r.Rows[row].Cells) {
			return ""
		}
		return strings.TrimSpace(r.Rows[row].Cells[i].Value)
	}
	var specs []reqSpec
	for row := 1; row < len(t.Rows); row++ {
		m := strings.ToUpper(cell(t, row, "method"))
		switch m {
		case "GET", "POST", "PUT", "PATCH", "DELETE", "HEAD":
		default:
			return fmt.Errorf("request row %d: method %q (want GET, POST, PUT, PATCH, DELETE or HEAD)", row, m)
		}
		d := dev
		if d == "" {
			if d = cell(t, row, "device"); d == "" {
				return fmt.Errorf("request row %d: no device", row)
			}
		}
		s := reqSpec{dev: d, method: m, path: cell(t, row, "path"), name: cell(t, row, "as")}
		if b := cell(t, row, "body"); b != "" {
			s.body = []byte(b)
		}
		specs = append(specs, s)
	}
	_, err := w.sendAll(ctx, specs, false)
	return err
}

func (w *world) waitBackground(_ context.Context) error {
	if !w.waitBG(w.deadline + 2*time.Second) {
		return fmt.Errorf("background requests still running %s after their deadline: the client does not return from Do", 2*time.Second)
	}
	return nil
}

// docBody returns a doc string's bytes and the content type its media type
// names ("json" → application/json; "" → the driver's JSON default).
func docBody(doc *godog.DocString) ([]byte, string) {
	if doc == nil {
		return nil, ""
	}
	ctype := ""
	switch mt := strings.TrimSpace(doc.MediaType); {
	case mt == "" || mt == "json":
	case mt == "text":
		ctype = "text/plain; charset=utf-8"
	case strings.Contains(mt, "/"):
		ctype = mt
	}
	return []byte(doc.Content), ctype
}

// outcomeText describes how a request settled, for messages.
func outcomeText(o device.Outcome) string {
	switch {
	case o.Lost:
		return "no answer before its deadline (lost)"
	case o.Err != nil:
		return "the error " + o.Err.Error()
	default:
		b := strings.TrimSpace(string(o.Body))
		if len(b) > 200 {
			b = b[:200] + "…"
		}
		return fmt.Sprintf("HTTP %d %s", o.Status, b)
	}
}
