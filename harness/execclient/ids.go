package execclient

// idSet is a bounded set of call ids with a value each, forgetting the oldest
// entries first. The harness uses two: calls settled recently (to tell "second
// answer for an id" from "answer for an id never sent") and calls abandoned at
// their deadline (so that a late answer is not mistaken for a violation). A
// storm sends millions of calls, so neither may grow without bound; an id that
// has been forgotten is reported as unknown, which is still a true statement
// about a client answering far too late or far too often.
type idSet struct {
	vals  map[string]string
	order []string // ring of insertion order
	next  int
}

func newIDSet(capacity int) *idSet {
	return &idSet{vals: make(map[string]string, capacity), order: make([]string, 0, capacity)}
}

func (s *idSet) add(id, val string) {
	if _, ok := s.vals[id]; ok {
		s.vals[id] = val
		return
	}
	if len(s.order) < cap(s.order) {
		s.order = append(s.order, id)
	} else {
		delete(s.vals, s.order[s.next])
		s.order[s.next] = id
		s.next = (s.next + 1) % len(s.order)
	}
	s.vals[id] = val
}

func (s *idSet) get(id string) (string, bool) {
	v, ok := s.vals[id]
	return v, ok
}

// remove forgets id; its slot in the ring is reclaimed lazily. Evicting an id
// no longer in the map is harmless; at worst an id removed and added again is
// forgotten early, which only turns a "second answer" report into "unknown id".
func (s *idSet) remove(id string) {
	delete(s.vals, id)
}
