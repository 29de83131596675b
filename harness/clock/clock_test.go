package clock

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestManualFiresWaitersOnAdvance(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	m := NewManual(start)
	ch := m.After(time.Minute)
	require.Equal(t, 1, m.Waiters())
	m.Advance(59 * time.Second)
	select {
	case <-ch:
		t.Fatal("fired early")
	default:
	}
	m.Advance(time.Second)
	assert.Equal(t, start.Add(time.Minute), <-ch)
	assert.Equal(t, 0, m.Waiters())
}

func TestSleepHonoursContext(t *testing.T) {
	m := NewManual(time.Now())
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	assert.ErrorIs(t, Sleep(ctx, m, time.Hour), context.Canceled)
}

func TestShiftedAndOffset(t *testing.T) {
	s := NewShifted()
	before := s.Now()
	s.Shift(2 * time.Hour)
	assert.WithinDuration(t, before.Add(2*time.Hour), s.Now(), time.Minute)
	o := Offset(s, -time.Hour)
	assert.WithinDuration(t, before.Add(time.Hour), o.Now(), time.Minute)
	s.Shift(-30 * time.Minute) // shifts accumulate, back as well as forward
	assert.Equal(t, 90*time.Minute, s.Offset())
}
