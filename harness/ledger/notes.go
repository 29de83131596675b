package ledger

import "strings"

// Notes the device driver adds to a settle event's Detail ("; "-separated
// parts), read by the checker (harness/check).
const (
	// NoteLate: the request settled after its deadline while the backend or
	// the machine was still busy with it (requests.late, not lost).
	NoteLate = "late"
	// NoteNoRID: the answer the caller got did not carry the request id,
	// which the reference backend echoes in every answer.
	NoteNoRID = "answer without the request id"
	// NoteServersOwed: when the request passed its deadline (and, for a lost
	// one, when the driver gave up on it) the client was still waiting on
	// the servers for it (client.Call.Waiting): the servers or the machine
	// were too slow, the client had not forgotten the request.
	NoteServersOwed = "the servers still owed the client an answer"
)

// AddNote appends note to detail as one "; "-separated part.
func AddNote(detail, note string) string {
	if detail == "" {
		return note
	}
	return detail + "; " + note
}

// HasNote reports whether one "; "-separated part of detail is note.
func HasNote(detail, note string) bool {
	for detail != "" {
		var part string
		part, detail, _ = strings.Cut(detail, ";")
		if strings.TrimSpace(part) == note {
			return true
		}
	}
	return false
}
