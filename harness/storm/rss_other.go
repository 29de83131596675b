//go:build !unix

package storm

// PeakRSSMB is 0 where getrusage(2) does not exist; reports leave it out.
func PeakRSSMB() float64 { return 0 }
