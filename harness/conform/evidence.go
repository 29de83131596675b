package conform

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/cucumber/godog"

	"github.com/tokenstorm/tokenstorm/harness/ledger"
	"github.com/tokenstorm/tokenstorm/harness/summary"
)

// maxEvidence bounds the ledger lines one failure shows.
const maxEvidence = 40

// fail records a failed assertion: the summary lists what failed, the text
// output shows msg and the ledger lines that prove it, and the same evidence
// is attached to the step (cucumber JSON "embeddings") by the after-step hook.
func (w *world) fail(what, msg string, ev []ledger.Event) error {
	w.failed = append(w.failed, what)
	text := msg
	if len(ev) > 0 {
		text += "\n" + w.formatEvidence(ev)
	}
	w.attach = []godog.Attachment{{Body: []byte(text + "\n"), FileName: "evidence.txt", MediaType: "text/plain"}}
	if len(ev) > 0 {
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		for _, e := range clip(ev) {
			_ = enc.Encode(e)
		}
		w.attach = append(w.attach, godog.Attachment{Body: buf.Bytes(), FileName: "ledger-excerpt.ndjson", MediaType: "application/x-ndjson"})
	}
	return errors.New(text)
}

func clip(ev []ledger.Event) []ledger.Event {
	if len(ev) > maxEvidence {
		return ev[len(ev)-maxEvidence:]
	}
	return ev
}

func (w *world) formatEvidence(ev []ledger.Event) string {
	var b strings.Builder
	shown := clip(ev)
	if len(shown) < len(ev) {
		fmt.Fprintf(&b, "ledger excerpt (last %d of %d events):\n", len(shown), len(ev))
	} else {
		fmt.Fprintf(&b, "ledger excerpt:\n")
	}
	b.WriteString("  (device=d1* means the backend event is attributed to d1 by its code, openid or token family)\n")
	v := w.view()
	for _, e := range shown {
		b.WriteString("  ")
		b.WriteString(w.formatEventIn(v, e))
		b.WriteByte('\n')
	}
	return strings.TrimRight(b.String(), "\n")
}

// formatEventIn is one ledger line, with the scenario prefix stripped from
// device names and request ids so they read as in the feature file. Backend
// events name no device; the view attributes them (shown as device=d1*).
func (w *world) formatEventIn(v *ledgerView, e ledger.Event) string {
	var b strings.Builder
	fmt.Fprintf(&b, "#%-4d %s %-8s %-15s", e.Seq, e.Time.Format("15:04:05.000"), e.Source, e.Kind)
	add := func(k, v string) {
		if v != "" {
			fmt.Fprintf(&b, " %s=%s", k, v)
		}
	}
	if e.Device != "" {
		add("device", w.featureName(e.Device))
	} else if d := v.deviceOf(e); d != "" {
		add("device", d+"*")
	}
	add("rid", w.featureName(e.RID))
	if e.Method != "" || e.Route != "" {
		add("req", strings.TrimSpace(e.Method+" "+e.Route))
	}
	add("token", short(e.Token))
	add("family", short(e.Family))
	add("code", short(e.Code))
	if e.Status != 0 {
		add("status", fmt.Sprint(e.Status))
	}
	add("outcome", e.Outcome)
	if e.Errcode != 0 {
		add("errcode", fmt.Sprint(e.Errcode))
	}
	add("body", e.BodyHash)
	if e.Attempt != 0 {
		add("attempt", fmt.Sprint(e.Attempt))
	}
	if d := w.featureText(e.Detail); d != "" {
		if len(d) > 120 {
			d = d[:120] + "…"
		}
		add("detail", fmt.Sprintf("%q", d))
	}
	return b.String()
}

func short(s string) string {
	if len(s) > 10 {
		return s[:10] + "…"
	}
	return s
}

// formatViolations explains an invariant's failure with the checker's own
// explanations and the ledger evidence of each violation.
func (w *world) formatViolations(name string, inv *summary.Invariant) (string, []ledger.Event) {
	var b strings.Builder
	fmt.Fprintf(&b, "invariant %s does not hold: %d violation(s)", name, inv.Violations)
	var all []ledger.Event
	view := w.view()
	for i, v := range inv.Examples {
		if i == 5 {
			fmt.Fprintf(&b, "\n  … and %d more", len(inv.Examples)-5)
			break
		}
		fmt.Fprintf(&b, "\n  %d. %s", i+1, w.featureText(v.Explanation))
		if len(v.Evidence) > 0 {
			b.WriteString("\n     ledger evidence:")
			for _, e := range clip(v.Evidence) {
				b.WriteString("\n       ")
				b.WriteString(w.formatEventIn(view, e))
			}
		}
		all = append(all, v.Evidence...)
	}
	return b.String(), all
}

// featureText strips the scenario prefix from names inside a sentence.
func (w *world) featureText(s string) string { return strings.ReplaceAll(s, w.id+"-", "") }

// failWithText records a failure whose text already includes its evidence
// (invariant explanations) and attaches the evidence events as NDJSON.
func (w *world) failWithText(what, text string, ev []ledger.Event) error {
	w.failed = append(w.failed, what)
	w.attach = []godog.Attachment{{Body: []byte(text + "\n"), FileName: "evidence.txt", MediaType: "text/plain"}}
	if len(ev) > 0 {
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		for _, e := range ev {
			_ = enc.Encode(e)
		}
		w.attach = append(w.attach, godog.Attachment{Body: buf.Bytes(), FileName: "ledger-excerpt.ndjson", MediaType: "application/x-ndjson"})
	}
	return errors.New(text)
}
