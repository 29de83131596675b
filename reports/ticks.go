package reports

import (
	"math"
	"strconv"

	"gonum.org/v1/plot"
)

// niceMax rounds an axis maximum up to a round number (1, 1.2, 1.5, 2, 2.5,
// 3, 4, 5, 6 or 8 × 10^n) so the top of the axis is labelled and little
// space is wasted; an all-zero chart gets a unit axis, not a degenerate one.
func niceMax(v float64) float64 {
	if !(v > 0) || !finite(v) {
		return 1
	}
	e := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10} {
		if m*e >= v {
			return m * e
		}
	}
	return 10 * e
}

// logTicks125 labels a log axis at 1, 2 and 5 × 10^n (plot.LogTicks labels
// only powers of ten, too sparse for a latency axis spanning two decades).
type logTicks125 struct{}

func (logTicks125) Ticks(lo, hi float64) []plot.Tick {
	if !(lo > 0) || !(hi > lo) {
		return nil
	}
	var ticks []plot.Tick
	for e := math.Floor(math.Log10(lo)); e <= math.Ceil(math.Log10(hi)); e++ {
		base := math.Pow(10, e)
		for m := 1; m < 10; m++ {
			v := float64(m) * base
			if v < lo*0.999 || v > hi*1.001 {
				continue
			}
			t := plot.Tick{Value: v}
			if m == 1 || m == 2 || m == 5 {
				t.Label = strconv.FormatFloat(v, 'f', -1, 64)
			}
			ticks = append(ticks, t)
		}
	}
	return ticks
}

// niceTicks places major ticks at round steps (1, 2 or 5 × 10^n) with four
// minor ticks between, and labels them without trailing zeros ("25", not
// "25.00" as plot.DefaultTicks would print for a 0–60 s axis).
type niceTicks struct{ target int }

func (t niceTicks) Ticks(lo, hi float64) []plot.Tick {
	if !finite(lo) || !finite(hi) || hi <= lo {
		return []plot.Tick{{Value: lo, Label: strconv.FormatFloat(lo, 'g', 4, 64)}}
	}
	step := niceStep((hi - lo) / float64(max(t.target, 2)))
	minor := step / 5
	decimals := max(0, int(-math.Floor(math.Log10(step)+1e-9)))
	var ticks []plot.Tick
	first, last := math.Ceil(lo/minor-1e-9), math.Floor(hi/minor+1e-9)
	for i := first; i <= last; i++ {
		v := i*minor + 0 // + 0 turns -0 into 0, so no "-0" label
		tk := plot.Tick{Value: v}
		if math.Mod(i, 5) == 0 {
			tk.Label = strconv.FormatFloat(v, 'f', decimals, 64)
		}
		ticks = append(ticks, tk)
	}
	return ticks
}

// niceStep rounds a raw tick step up to 1, 2 or 5 × 10^n.
func niceStep(raw float64) float64 {
	e := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5} {
		if m*e >= raw*(1-1e-9) {
			return m * e
		}
	}
	return 10 * e
}
