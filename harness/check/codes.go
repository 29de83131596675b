// Codes: code-single-use.
//
// SPEC §5: no wx.login code is sent to jscode2session twice (the 40163
// count is 0). A code an injected fault answered before WeChat looked at it
// is not used up. docs/invariants.md#code-single-use.
package check

import (
	"fmt"

	"github.com/tokenstorm/tokenstorm/harness/ledger"
	"github.com/tokenstorm/tokenstorm/harness/summary"
)

func (c *Checker) onJSCode2Session(e ledger.Event) {
	dev := e.Device
	if dev == "" {
		dev = c.codeDev[e.Code]
	}
	if e.Subject != "" && dev != "" {
		c.subjDev[e.Subject] = dev
	}
	inv := c.inv[summary.CodeSingleUse]
	inv.Checked++
	// An injected fault (reset, hang, errcode) answers before WeChat looks at
	// the code, so the code is not used up and a retry with it is legitimate.
	if e.Code != "" && e.Outcome != ledger.OutcomeFault {
		c.codeUses[e.Code]++
	}
	if e.Errcode == 40163 || (e.Code != "" && c.codeUses[e.Code] > 1) {
		d := c.dev(dev)
		d.remember(&c.tab, &e)
		c.violate(summary.CodeSingleUse, summary.Violation{
			Device: dev, At: e.Time,
			Explanation: fmt.Sprintf("wx.login code %s was sent to jscode2session %d times (WeChat answered errcode %d): codes are single-use, each login needs a fresh wx.login()",
				short(e.Code), c.codeUses[e.Code], e.Errcode),
			Evidence: d.history(&c.tab),
		})
	}
}
