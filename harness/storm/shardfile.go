package storm

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/tokenstorm/tokenstorm/harness/inputfile"
	"github.com/tokenstorm/tokenstorm/harness/latency"
	"github.com/tokenstorm/tokenstorm/harness/series"
	"github.com/tokenstorm/tokenstorm/harness/summary"
)

// ShardFile is the name of the file beside summary.json that carries what
// `tokenstorm merge` needs of a storm and summary.json does not hold: which
// part of the fleet ran, the send-lag histograms, the timeline's failures,
// and (version 2) the per-route latency histograms and the time series with
// its per-bucket histograms, so that those figures merge exactly too.
// (Counts, invariants, thresholds and the latency histogram are in
// summary.json.)
const ShardFile = "shard.json"

// shardVersion is what this tokenstorm writes: 2 added routes and series.
// A merge reads every version from minShardVersion up (an older shard's
// per-route and per-bucket figures merge approximately, with a note).
const (
	shardVersion    = 2
	minShardVersion = 1
)

// shardInfo is shard.json.
type shardInfo struct {
	Version   int    `json:"version"`
	Scenario  string `json:"scenario"`
	Shard     Shard  `json:"shard"`
	Devices   int    `json:"devices"`    // this shard's
	Fleet     int    `json:"fleet"`      // the scenario's
	FleetRate string `json:"fleet_rate"` // the scenario's rate (this shard ran its share)
	Duration  string `json:"duration"`

	Hits        int     `json:"hits"` // in results.bin
	Settled     uint64  `json:"settled"`
	AttackMS    float64 `json:"attack_ms"`
	Interrupted bool    `json:"interrupted,omitempty"`
	// Results is results.bin's name in the directory, "" when none was written.
	Results          string             `json:"results,omitempty"`
	TimelineFailures []string           `json:"timeline_failures,omitempty"`
	SendLag          *latency.Histogram `json:"send_lag"`
	Corrected        *latency.Histogram `json:"corrected"` // send lag + latency
	// Routes are summary.json's per_route figures as histograms (version 2).
	Routes map[string]*latency.Histogram `json:"routes,omitempty"`
	// Series is summary.json's series with a histogram per bucket, on
	// wall-clock time (version 2).
	Series *series.Series `json:"series,omitempty"`
}

// shardInfo is what this run tells a merge.
func (r *runner) shardInfo() *shardInfo {
	info := &shardInfo{
		Version: shardVersion, Scenario: r.sc.Name, Shard: Shard{Index: r.shard.Index, Count: r.shard.count()},
		Devices: len(r.names), Fleet: r.sc.Devices, FleetRate: r.sc.Rate.String(), Duration: r.sc.Duration.String(),
		Hits: r.hits, Settled: r.c.settled.Load(), AttackMS: float64(r.attackDur.Milliseconds()),
		Interrupted: r.interrupted.Load(), TimelineFailures: r.tl.failures(),
		SendLag: r.c.lag.Clone(), Corrected: r.c.corrected.Clone(),
		Routes: r.local.RouteLatency(), Series: r.local.Series(),
	}
	if r.results != nil && r.results.err == nil {
		info.Results = ResultsFile
	}
	return info
}

// pendingShardFile is shard.json until CommitShardFile.
const pendingShardFile = ShardFile + ".pending"

// writeShardInfo writes shard.json, or with hold its pending name, whole or
// not at all (a rename), since a merge may be polling for it.
func writeShardInfo(dir string, info *shardInfo, hold bool) error {
	b, err := json.MarshalIndent(info, "", "  ")
	if err != nil {
		return err
	}
	tmp := filepath.Join(dir, ShardFile+".tmp")
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return err
	}
	name := ShardFile
	if hold {
		name = pendingShardFile
	}
	return os.Rename(tmp, filepath.Join(dir, name))
}

// CommitShardFile publishes the shard.json a run with
// Options.HoldShardFile wrote: call it when the directory is complete.
func CommitShardFile(dir string) error {
	err := os.Rename(filepath.Join(dir, pendingShardFile), filepath.Join(dir, ShardFile))
	if os.IsNotExist(err) {
		return nil // nothing held (the run wrote no output)
	}
	return err
}

func readShardInfo(ctx context.Context, dir string) (*shardInfo, error) {
	path := filepath.Join(dir, ShardFile)
	b, err := inputfile.Read(ctx, path, summary.MaxFileSize)
	if err != nil {
		if os.IsNotExist(err) {
			return nil, fmt.Errorf("%s: no %s: not the --out directory of a storm (or written by a tokenstorm older than merge)", dir, ShardFile)
		}
		return nil, err
	}
	var info shardInfo
	if err := json.Unmarshal(b, &info); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if info.Version < minShardVersion || info.Version > shardVersion {
		return nil, fmt.Errorf("%s: version %d, this tokenstorm reads versions %d to %d (a newer tokenstorm wrote it?)", path, info.Version, minShardVersion, shardVersion)
	}
	if info.Shard.Count < 1 || info.Shard.Index < 0 || info.Shard.Index >= info.Shard.Count {
		return nil, fmt.Errorf("%s: shard %d/%d is not a shard", path, info.Shard.Index, info.Shard.Count)
	}
	if info.SendLag == nil {
		info.SendLag = latency.New()
	}
	if info.Corrected == nil {
		info.Corrected = latency.New()
	}
	return &info, nil
}
