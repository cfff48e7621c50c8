package registry

import "net/http"

// The routes under /config and /mode serve the global setting when the path
// has no {subject}, and the subject's otherwise.

// GET /config[/{subject}] (?defaultToGlobal): {"compatibilityLevel": …}.
func (h *restHandler) getCompatibility(r *http.Request) (any, error) {
	level, err := h.reg.Compatibility(r.Context(), r.PathValue("subject"), flag(r, "defaultToGlobal"))
	if err != nil {
		return nil, err
	}
	return compatibilityLevelResponse{CompatibilityLevel: level}, nil
}

// PUT /config[/{subject}]: takes and answers {"compatibility": …}.
func (h *restHandler) setCompatibility(r *http.Request) (any, error) {
	var q compatibilityRequest
	if err := h.decode(r, &q); err != nil {
		return nil, err
	}
	level, err := h.reg.SetCompatibility(r.Context(), r.PathValue("subject"), q.Compatibility)
	if err != nil {
		return nil, err
	}
	return compatibilityRequest{Compatibility: level}, nil
}

// DELETE /config[/{subject}]: the level removed, {"compatibilityLevel": …}.
func (h *restHandler) deleteCompatibility(r *http.Request) (any, error) {
	level, err := h.reg.DeleteCompatibility(r.Context(), r.PathValue("subject"))
	if err != nil {
		return nil, err
	}
	return compatibilityLevelResponse{CompatibilityLevel: level}, nil
}

// GET /mode[/{subject}] (?defaultToGlobal): {"mode": …}.
func (h *restHandler) getMode(r *http.Request) (any, error) {
	mode, err := h.reg.Mode(r.Context(), r.PathValue("subject"), flag(r, "defaultToGlobal"))
	if err != nil {
		return nil, err
	}
	return modeBody{Mode: mode}, nil
}

// PUT /mode[/{subject}] (?force): takes and answers {"mode": …}.
func (h *restHandler) setMode(r *http.Request) (any, error) {
	var q modeBody
	if err := h.decode(r, &q); err != nil {
		return nil, err
	}
	mode, err := h.reg.SetMode(r.Context(), r.PathValue("subject"), q.Mode, flag(r, "force"))
	if err != nil {
		return nil, err
	}
	return modeBody{Mode: mode}, nil
}

// DELETE /mode[/{subject}]: the mode removed (the global one reset to
// READWRITE), {"mode": …}.
func (h *restHandler) deleteMode(r *http.Request) (any, error) {
	mode, err := h.reg.DeleteMode(r.Context(), r.PathValue("subject"))
	if err != nil {
		return nil, err
	}
	return modeBody{Mode: mode}, nil
}
