package registry

import "net/http"

// The routes under /config and /mode serve the global setting when the path
// has no {subject}, and the subject's otherwise.

// GET /config[/{subject}] (?defaultToGlobal): {"compatibilityLevel": …,
// "normalize": …}, normalize only when set.
func (h *restHandler) getConfig(r *http.Request) (any, error) {
	c, err := h.reg.Config(r.Context(), r.PathValue("subject"), flag(r, "defaultToGlobal"))
	if err != nil {
		return nil, err
	}
	return configResponse{CompatibilityLevel: c.Compatibility, Normalize: c.Normalize}, nil
}

// PUT /config[/{subject}]: takes {"compatibility": …, "normalize": …}, either
// may be left out, and answers the subject's own configuration in the same
// form.
func (h *restHandler) setConfig(r *http.Request) (any, error) {
	var q configUpdate
	if err := h.decode(r, &q); err != nil {
		return nil, err
	}
	c, err := h.reg.SetConfig(r.Context(), r.PathValue("subject"), q.Compatibility, q.Normalize)
	if err != nil {
		return nil, err
	}
	return configUpdate{Compatibility: c.Compatibility, Normalize: c.Normalize}, nil
}

// DELETE /config[/{subject}]: the configuration removed,
// {"compatibilityLevel": …, "normalize": …}.
func (h *restHandler) deleteConfig(r *http.Request) (any, error) {
	c, err := h.reg.DeleteConfig(r.Context(), r.PathValue("subject"))
	if err != nil {
		return nil, err
	}
	return configResponse{CompatibilityLevel: c.Compatibility, Normalize: c.Normalize}, nil
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
