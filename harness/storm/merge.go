package storm

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/tokenstorm/tokenstorm/harness/check"
	"github.com/tokenstorm/tokenstorm/harness/latency"
	"github.com/tokenstorm/tokenstorm/harness/series"
	"github.com/tokenstorm/tokenstorm/harness/summary"
)

// maxMergedExamples caps the explained violations a merged invariant keeps
// (the count stays exact).
const maxMergedExamples = 20

// shardDir is one storm output directory read back for a merge.
type shardDir struct {
	dir  string
	sum  *summary.Summary
	info *shardInfo
}

// Merge combines the --out directories of a storm's shards into the summary
// of the whole run (SPEC §11): counts summed, latency from the merged
// histograms, invariants and thresholds judged on the whole. With outDir,
// the shards' results.bin files are written there as one vegeta results
// file. Every shard of the storm must be there, once.
// Reading stops when ctx ends.
func Merge(ctx context.Context, dirs []string, outDir string) (*summary.Summary, error) {
	shards, err := readShards(ctx, dirs)
	if err != nil {
		return nil, err
	}
	first := shards[0]
	s := summary.New(first.sum.Client, first.sum.Backend)
	s.Style = first.sum.Style
	s.StartedAt = first.sum.StartedAt
	for _, sh := range shards {
		if sh.sum.StartedAt.Before(s.StartedAt) {
			s.StartedAt = sh.sum.StartedAt
		}
	}

	exact := exactness(shards)
	exact.merge(s, shards)
	lat, lag, corrected := latency.New(), latency.New(), latency.New()
	var (
		took                       time.Duration
		throughput, peakRSS        float64
		hits, devices              int
		timelineErrs, thresholdSrc []string
		interrupted                bool
		bars                       = map[float64]int{}
		allHDR                     = true // every shard's histogram came along
	)
	for _, sh := range shards {
		ss, info := sh.sum, sh.info
		label := "shard " + info.Shard.String()
		addInvariants(s, ss)
		addCounts(s, ss)
		if ss.LatencyHDR != nil {
			lat.Merge(ss.LatencyHDR)
		} else if len(ss.Histogram) > 0 {
			allHDR = false
		}
		lag.Merge(info.SendLag)
		corrected.Merge(info.Corrected)
		for _, b := range ss.Histogram {
			bars[b.LEMS] += b.Count
		}
		offset := float64(ss.StartedAt.Sub(s.StartedAt).Milliseconds())
		for _, m := range ss.Timeline {
			m.AtMS += offset
			s.Timeline = append(s.Timeline, m)
		}
		if !exact.series {
			s.Series = mergeSeries(s.Series, ss.Series, offset)
		}
		s.PerDevice = append(s.PerDevice, ss.PerDevice...)
		if !exact.routes {
			for route, l := range ss.PerRoute {
				if s.PerRoute == nil {
					s.PerRoute = map[string]summary.Latency{}
				}
				s.PerRoute[route] = worst(s.PerRoute[route], l)
			}
		}
		// Shards run side by side: the whole's rate is the sum of theirs,
		// and the run lasts as long as its slowest shard (from the first start).
		took = max(took, ss.StartedAt.Sub(s.StartedAt)+time.Duration(ss.DurationMS)*time.Millisecond)
		if ss.Storm != nil {
			throughput += ss.Storm.ThroughputRPS
			peakRSS = max(peakRSS, ss.Storm.PeakRSSMB)
		}
		hits += info.Hits
		devices += info.Devices
		interrupted = interrupted || info.Interrupted
		for _, f := range info.TimelineFailures {
			timelineErrs = append(timelineErrs, label+": "+f)
		}
		for _, n := range ss.Notes {
			s.Notes = append(s.Notes, label+": "+n)
		}
		if len(thresholdSrc) == 0 {
			for _, t := range ss.Thresholds {
				thresholdSrc = append(thresholdSrc, t.Expr)
			}
		}
	}
	if allHDR && lat.Count() > 0 {
		s.Histogram = check.Bars(lat) // as the whole run draws them
	} else {
		// Summed by bound: exact but for each shard's last bar, which ends
		// at that shard's own maximum.
		for le, n := range bars {
			s.Histogram = append(s.Histogram, summary.Bucket{LEMS: le, Count: n})
		}
		sort.Slice(s.Histogram, func(i, j int) bool { return s.Histogram[i].LEMS < s.Histogram[j].LEMS })
	}
	sort.SliceStable(s.Timeline, func(i, j int) bool { return s.Timeline[i].AtMS < s.Timeline[j].AtMS })
	sort.Slice(s.PerDevice, func(i, j int) bool { return s.PerDevice[i].Device < s.PerDevice[j].Device })
	s.Refresh.Amplification = check.Amplification(s.Refresh) // the checker's formula on the summed counts
	if lat.Count() > 0 {
		s.Latency = summary.LatencyOf(lat)
		s.LatencyHDR = lat
	}
	info := first.info
	s.Storm = &summary.Storm{
		Scenario: info.Scenario, Rate: info.FleetRate, Duration: info.Duration, Devices: devices,
		ThroughputRPS: float64(int64(throughput*100+0.5)) / 100,
		SendLagP99MS:  summary.MS(lag.Quantile(0.99)),
		SendLagMaxMS:  summary.MS(lag.Max()),
		PeakRSSMB:     peakRSS,
	}
	n := info.Shard.Count
	s.Notes = append([]string{fmt.Sprintf("storm %s: merged from %d shards (%s); throughput is their sum, peak RSS the largest shard's, %s",
		info.Scenario, n, strings.Join(dirs, ", "), exact.note())}, s.Notes...)
	s.Storm.Shards = n
	if lag.Count() > 0 {
		labelLoad(s, lag, corrected, " over all shards")
	}
	if interrupted {
		// SPEC §9: a run stopped before it finished is "interrupted", and so
		// is a whole one of its shards was (rejudge keeps it).
		s.MarkInterrupted(fmt.Sprintf("storm %s: a shard was interrupted: the figures cover what was measured until then", info.Scenario))
	}
	var thresholds []Threshold
	for _, src := range thresholdSrc {
		t, err := ParseThreshold(src)
		if err != nil {
			return nil, fmt.Errorf("%s: threshold %q: %w", first.dir, src, err)
		}
		thresholds = append(thresholds, t)
	}
	if outDir != "" {
		if err := concatResults(shards, filepath.Join(outDir, ResultsFile)); err != nil {
			return nil, err
		}
		s.Notes = append(s.Notes, fmt.Sprintf("storm %s: %d hits of %d shards in %s (vegeta format: vegeta report %s)",
			info.Scenario, hits, n, filepath.Join(outDir, ResultsFile), filepath.Join(outDir, ResultsFile)))
	}
	rejudge(&Scenario{Name: info.Scenario, Thresholds: thresholds}, s, timelineErrs, took)
	return s, nil
}

// readShards reads every directory and checks that together they are every
// shard of one storm, each once.
func readShards(ctx context.Context, dirs []string) ([]shardDir, error) {
	if len(dirs) == 0 {
		return nil, errors.New("merge: no shard directories given")
	}
	var out []shardDir
	for _, d := range dirs {
		info, err := readShardInfo(ctx, d)
		if err != nil {
			return nil, err
		}
		sum, err := summary.ReadFileContext(ctx, d)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", d, err)
		}
		out = append(out, shardDir{dir: d, sum: sum, info: info})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].info.Shard.Index < out[j].info.Shard.Index })
	first := out[0]
	n := first.info.Shard.Count
	seen := make([]string, n)
	for _, sh := range out {
		i := sh.info
		switch {
		case i.Scenario != first.info.Scenario:
			return nil, fmt.Errorf("merge: %s ran scenario %q, %s ran %q: shards of one storm only", sh.dir, i.Scenario, first.dir, first.info.Scenario)
		case i.Shard.Count != n:
			return nil, fmt.Errorf("merge: %s is shard %s, %s is shard %s: the shards of one storm share N", sh.dir, i.Shard, first.dir, first.info.Shard)
		case i.Fleet != first.info.Fleet || i.FleetRate != first.info.FleetRate || i.Duration != first.info.Duration:
			return nil, fmt.Errorf("merge: %s and %s ran scenario %s differently (devices %d/%d, rate %s/%s, duration %s/%s)",
				sh.dir, first.dir, i.Scenario, i.Fleet, first.info.Fleet, i.FleetRate, first.info.FleetRate, i.Duration, first.info.Duration)
		case sh.sum.Client != first.sum.Client || sh.sum.Backend != first.sum.Backend:
			return nil, fmt.Errorf("merge: %s tested client %s against %s, %s client %s against %s", sh.dir, sh.sum.Client, sh.sum.Backend, first.dir, first.sum.Client, first.sum.Backend)
		case seen[i.Shard.Index] != "":
			return nil, fmt.Errorf("merge: %s and %s are both shard %s", seen[i.Shard.Index], sh.dir, i.Shard)
		}
		seen[i.Shard.Index] = sh.dir
	}
	var missing []string
	for i, d := range seen {
		if d == "" {
			missing = append(missing, fmt.Sprintf("%d/%d", i, n))
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("merge: shard(s) %s missing: a merge of part of the fleet would not be the run", strings.Join(missing, ", "))
	}
	return out, nil
}

// addInvariants adds a shard's invariants to s and re-judges each on the
// sum, as the checker judges one run: any violation fails, anything checked
// passes, nothing checked is skipped.
func addInvariants(s, shard *summary.Summary) {
	for name, src := range shard.Invariants {
		dst := s.Invariants[name]
		if dst == nil {
			dst = &summary.Invariant{Verdict: summary.Skip}
			s.Invariants[name] = dst
		}
		dst.Checked += src.Checked
		dst.Violations += src.Violations
		for _, ex := range src.Examples {
			if len(dst.Examples) < maxMergedExamples {
				dst.Examples = append(dst.Examples, ex)
			}
		}
		switch {
		case dst.Violations > 0:
			dst.Verdict, dst.Reason = summary.Fail, fmt.Sprintf("%d violation(s)", dst.Violations)
		case dst.Checked > 0:
			dst.Verdict, dst.Reason = summary.Pass, ""
		case src.Reason != "":
			dst.Reason = src.Reason // skipped: keep a shard's reason
		}
	}
}

// addCounts adds a shard's request and refresh counts to s: every integer
// of summary.Requests and summary.Refresh, so that a counter added there is
// summed without a change here. (Ratios, such as the amplification, are
// recomputed from the sums, not added.)
func addCounts(s, shard *summary.Summary) {
	sumInts(reflect.ValueOf(&s.Requests).Elem(), reflect.ValueOf(shard.Requests))
	sumInts(reflect.ValueOf(&s.Refresh).Elem(), reflect.ValueOf(shard.Refresh))
	if pe := shard.ProtocolErrors; pe != nil {
		s.AddProtocolErrors(pe.ByKind)
	}
	if sd := shard.StoppedDevices; sd != nil {
		s.AddStopped(sd.Total, sd.Devices)
	}
}

func sumInts(dst, src reflect.Value) {
	for i := range dst.NumField() {
		if f := dst.Field(i); f.Kind() == reflect.Int && f.CanSet() {
			f.SetInt(f.Int() + src.Field(i).Int())
		}
	}
}

// exactMerge says which figures the shards carry histograms for: per route
// and per time bucket (shard.json version 2), else those figures merge as
// the worst shard's.
type exactMerge struct {
	routes, series bool
	old            []string // the shards without them
}

func exactness(shards []shardDir) exactMerge {
	e := exactMerge{routes: true, series: true}
	for _, sh := range shards {
		noRoutes := sh.info.Routes == nil && len(sh.sum.PerRoute) > 0
		noSeries := sh.info.Series == nil && len(sh.sum.Series) > 0
		if noRoutes || noSeries {
			e.old = append(e.old, fmt.Sprintf("%s (%s version %d)", sh.info.Shard, ShardFile, sh.info.Version))
		}
		e.routes = e.routes && !noRoutes
		e.series = e.series && !noSeries
	}
	return e
}

// merge sets s's per-route figures and series from the merged histograms,
// as far as the shards carry them. The series' buckets are on wall-clock
// time, so shards that started apart line up.
func (e exactMerge) merge(s *summary.Summary, shards []shardDir) {
	if e.routes {
		routes := map[string]*latency.Histogram{}
		for _, sh := range shards {
			for route, h := range sh.info.Routes {
				if routes[route] == nil {
					routes[route] = latency.New()
				}
				routes[route].Merge(h)
			}
		}
		for route, h := range routes {
			if s.PerRoute == nil {
				s.PerRoute = map[string]summary.Latency{}
			}
			s.PerRoute[route] = summary.LatencyOf(h)
		}
	}
	if e.series {
		var all *series.Series
		for _, sh := range shards {
			switch {
			case sh.info.Series == nil: // a shard that saw no event
			case all == nil:
				all = sh.info.Series
			default:
				all.Merge(sh.info.Series)
			}
		}
		if all != nil {
			s.Series, s.SeriesBucketMS = all.Points(s.StartedAt), summary.MS(all.Width())
		}
	}
}

func (e exactMerge) note() string {
	switch {
	case e.routes && e.series:
		return "and latency overall, per route and per time bucket from the merged histograms"
	case e.routes:
		return "latency overall and per route from the merged histograms, per-time-bucket percentiles the worst shard's (shard(s) " + strings.Join(e.old, ", ") + " carry no histograms for them)"
	case e.series:
		return "latency overall and per time bucket from the merged histograms, per-route percentiles the worst shard's (shard(s) " + strings.Join(e.old, ", ") + " carry no histograms for them)"
	}
	return "per-route and per-time-bucket percentiles the worst shard's (the overall latency is exact, from the merged histograms; shard(s) " + strings.Join(e.old, ", ") + " carry no histograms for the others)"
}

// worst is each percentile's larger value: the best a merge can say of
// percentiles it has no histogram for.
func worst(a, b summary.Latency) summary.Latency {
	return summary.Latency{P50: max(a.P50, b.P50), P90: max(a.P90, b.P90), P99: max(a.P99, b.P99), Max: max(a.Max, b.Max)}
}

// mergeSeries adds a shard's time buckets (shifted by offset ms to the
// merged run's start) to the merged ones: counts summed, percentiles the
// worse of the two.
func mergeSeries(into, from []summary.Point, offset float64) []summary.Point {
	at := map[float64]int{}
	for i, p := range into {
		at[p.AtMS] = i
	}
	const bucket = 1000 // ms: the checker's series buckets are one second
	for _, p := range from {
		p.AtMS = float64(int64((p.AtMS+offset)/bucket)) * bucket
		i, ok := at[p.AtMS]
		if !ok {
			at[p.AtMS] = len(into)
			into = append(into, p)
			continue
		}
		q := &into[i]
		q.Requests += p.Requests
		q.Errors += p.Errors
		q.Refreshes += p.Refreshes
		q.P50MS, q.P99MS, q.MaxMS = max(q.P50MS, p.P50MS), max(q.P99MS, p.P99MS), max(q.MaxMS, p.MaxMS)
	}
	sort.Slice(into, func(i, j int) bool { return into[i].AtMS < into[j].AtMS })
	return into
}

// concatResults writes every shard's results.bin, in shard order, as one
// vegeta results stream (decoded and encoded again rather than byte-copied:
// gob streams do not concatenate).
func concatResults(shards []shardDir, path string) error {
	out, err := createResults(path)
	if err != nil {
		return err
	}
	defer out.close()
	for _, sh := range shards {
		if sh.info.Results == "" {
			continue
		}
		src := filepath.Join(sh.dir, sh.info.Results)
		f, err := os.Open(src)
		if err != nil {
			return fmt.Errorf("merge: %w", err)
		}
		dec := vegeta.NewDecoder(bufio.NewReaderSize(f, 256<<10))
		for {
			var res vegeta.Result
			if err := dec.Decode(&res); err != nil {
				f.Close()
				if errors.Is(err, io.EOF) {
					break
				}
				return fmt.Errorf("merge: %s: %w", src, err)
			}
			out.write(&res)
		}
	}
	return out.close()
}
