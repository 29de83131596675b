package mockwechat

import (
	"net/http"
	"strings"
)

// handleAdmin serves /__admin/… (WireMock-style). Every answer is JSON; bad
// input is a 400 naming the field, a wrong method a 405 with Allow.
func (s *Server) handleAdmin(w http.ResponseWriter, r *http.Request) {
	path := strings.TrimSuffix(r.URL.Path, "/")
	switch {
	case path == "/__admin/faults":
		s.adminFaults(w, r)
	case strings.HasPrefix(path, "/__admin/faults/"):
		s.adminFault(w, r, strings.TrimPrefix(path, "/__admin/faults/"))
	case path == "/__admin/stats":
		if allow(w, r, http.MethodGet) {
			writeJSON(w, http.StatusOK, s.Stats())
		}
	case path == "/__admin/reset":
		if allow(w, r, http.MethodPost) {
			s.Reset()
			writeJSON(w, http.StatusOK, map[string]bool{"reset": true})
		}
	case path == "/__admin/blocked":
		s.adminBlocked(w, r)
	default:
		writeJSONError(w, http.StatusNotFound, "no such admin endpoint: "+clip(r.URL.Path, 200))
	}
}

// allow answers 405 unless r uses one of methods (HEAD counts as GET).
func allow(w http.ResponseWriter, r *http.Request, methods ...string) bool {
	for _, m := range methods {
		if r.Method == m || (m == http.MethodGet && r.Method == http.MethodHead) {
			return true
		}
	}
	w.Header().Set("Allow", strings.Join(methods, ", "))
	writeJSONError(w, http.StatusMethodNotAllowed, "method "+clip(r.Method, 20)+" not allowed; use "+strings.Join(methods, " or "))
	return false
}

func (s *Server) adminFaults(w http.ResponseWriter, r *http.Request) {
	if !allow(w, r, http.MethodGet, http.MethodPost, http.MethodDelete) {
		return
	}
	switch r.Method {
	case http.MethodPost:
		var in faultInput
		if status, msg := decodeStrict(r, &in); status != 0 {
			writeJSONError(w, status, msg)
			return
		}
		f, err := in.fault()
		if err == nil {
			f, err = s.AddFaultRule(f)
		}
		if err != nil {
			writeJSONError(w, http.StatusBadRequest, err.Error())
			return
		}
		writeJSON(w, http.StatusCreated, f)
	case http.MethodDelete:
		writeJSON(w, http.StatusOK, map[string]int{"cleared": s.faults.clear()})
	default:
		writeJSON(w, http.StatusOK, map[string][]Fault{"faults": s.Faults()})
	}
}

func (s *Server) adminFault(w http.ResponseWriter, r *http.Request, id string) {
	if !allow(w, r, http.MethodGet, http.MethodDelete) {
		return
	}
	if r.Method == http.MethodDelete {
		if !s.RemoveFault(id) {
			writeJSONError(w, http.StatusNotFound, "no fault rule "+clip(id, 40))
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"deleted": id})
		return
	}
	for _, f := range s.Faults() {
		if f.ID == id {
			writeJSON(w, http.StatusOK, f)
			return
		}
	}
	writeJSONError(w, http.StatusNotFound, "no fault rule "+clip(id, 40))
}

type blockedBody struct {
	Users []string `json:"users"`
}

func (s *Server) adminBlocked(w http.ResponseWriter, r *http.Request) {
	if !allow(w, r, http.MethodGet, http.MethodPost) {
		return
	}
	if r.Method == http.MethodPost {
		var in blockedBody
		if status, msg := decodeStrict(r, &in); status != 0 {
			writeJSONError(w, status, msg)
			return
		}
		if in.Users == nil {
			writeJSONError(w, http.StatusBadRequest, "users: required (an array; [] unblocks everyone)")
			return
		}
		for _, u := range in.Users {
			if validUser(u) != nil {
				writeJSONError(w, http.StatusBadRequest, "users: each must be 1-256 bytes of UTF-8")
				return
			}
		}
		s.Block(in.Users...)
	}
	writeJSON(w, http.StatusOK, blockedBody{Users: s.Blocked()})
}
