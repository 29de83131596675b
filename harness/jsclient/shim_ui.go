package jsclient

import (
	"fmt"

	"github.com/dop251/goja"
	"github.com/tokenstorm/tokenstorm/harness/ledger"
)

// maxUI bounds the UI actions kept per device for Client.UI.
const maxUI = 1000

// jsUI is n.ui(name, detail): a UI action, recorded in the ledger as
// "reLaunch /pages/login/login". A transparent refresh shows the user
// nothing; a toast or a jump to the login page during one is a finding.
func (d *device) jsUI(fc goja.FunctionCall) goja.Value {
	detail := fc.Argument(0).String()
	if s := fc.Argument(1).String(); s != "" {
		detail += " " + s
	}
	detail = trimTo(detail, 300)
	d.mu.Lock()
	if len(d.ui) < maxUI {
		d.ui = append(d.ui, detail)
	}
	d.mu.Unlock()
	d.record(ledger.Event{Kind: ledger.KindUI, Detail: detail})
	return goja.Undefined()
}

// jsLog is n.log(level, text): console output, to the ledger (bounded per
// device) and to Options.Console.
func (d *device) jsLog(fc goja.FunctionCall) goja.Value {
	d.log(fc.Argument(0).String(), fc.Argument(1).String())
	return goja.Undefined()
}

func (d *device) log(level, text string) {
	if d.quiet {
		return
	}
	d.c.logs.Add(1)
	if w := d.c.opts.Console; w != nil {
		d.c.consoleMu.Lock()
		fmt.Fprintf(w, "%s [%s] %s\n", d.name, level, text)
		d.c.consoleMu.Unlock()
	}
	d.logs++
	switch {
	case d.logs < d.c.opts.MaxLogs:
		d.record(ledger.Event{Kind: ledger.KindClientLog, Detail: "console." + level + ": " + trimTo(oneLine(text), 500)})
	case d.logs == d.c.opts.MaxLogs:
		d.record(ledger.Event{Kind: ledger.KindClientLog, Detail: fmt.Sprintf("console output of this device truncated after %d lines", d.c.opts.MaxLogs-1)})
	}
}
