package web

import (
	"crypto/subtle"
	"net/http"
	"strings"
)

// maxLoginForm bounds the login and logout forms.
const maxLoginForm = 8 << 10

// session returns the live session the request's cookie names, or nil.
func (h *Handler) session(r *http.Request) *session {
	c, err := r.Cookie(SessionCookie)
	if err != nil {
		return nil
	}
	return h.sessions.get(c.Value, h.opts.Now())
}

// startSession logs the browser in: a new session and its cookie.
func (h *Handler) startSession(w http.ResponseWriter, r *http.Request) *session {
	id, s := h.sessions.create(h.opts.Now(), h.opts.SessionTTL)
	http.SetCookie(w, &http.Cookie{
		Name:     SessionCookie,
		Value:    id,
		Path:     Prefix + "/",
		MaxAge:   int(h.opts.SessionTTL.Seconds()),
		HttpOnly: true,
		Secure:   h.opts.Secure || r.TLS != nil,
		SameSite: http.SameSiteStrictMode,
	})
	return s
}

// loginPage is what the login template shows.
type loginPage struct {
	Error string
	// SignedIn shows a page that moves on to the dashboard: after a
	// one-time link, a same-site navigation so the Strict cookie is sent
	// even when the link was opened from another site.
	SignedIn bool
}

// handleLoginPage shows the login form, or spends a one-time link given
// as ?token=.
func (h *Handler) handleLoginPage(w http.ResponseWriter, r *http.Request) {
	if tok := r.URL.Query().Get("token"); tok != "" {
		if !h.sessions.takeLink(tok, h.opts.Now()) {
			h.render(w, h.login, http.StatusUnauthorized, loginPage{
				Error: "This login link has expired or was already used. Run `parley dashboard` again, or log in with the admin secret.",
			})
			return
		}
		h.startSession(w, r)
		h.log.Info("dashboard login", "how", "one-time link", "remote", r.RemoteAddr)
		h.render(w, h.login, http.StatusOK, loginPage{SignedIn: true})
		return
	}
	if h.opts.Open || h.session(r) != nil {
		http.Redirect(w, r, Prefix+"/", http.StatusSeeOther)
		return
	}
	h.render(w, h.login, http.StatusOK, loginPage{})
}

// handleLogin checks the admin secret typed into the login form.
func (h *Handler) handleLogin(w http.ResponseWriter, r *http.Request) {
	if err := checkSameOrigin(r); err != nil {
		http.Error(w, err.Error(), http.StatusForbidden)
		return
	}
	if h.opts.Open {
		http.Redirect(w, r, Prefix+"/", http.StatusSeeOther)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxLoginForm)
	if err := r.ParseForm(); err != nil {
		h.render(w, h.login, http.StatusBadRequest, loginPage{Error: "The form could not be read; try again."})
		return
	}
	secret := strings.TrimSpace(r.PostForm.Get("secret"))
	if subtle.ConstantTimeCompare([]byte(secret), []byte(h.opts.AdminSecret)) != 1 {
		h.log.Warn("dashboard login refused", "remote", r.RemoteAddr)
		h.render(w, h.login, http.StatusUnauthorized, loginPage{
			Error: "That is not the admin secret. It is in the file admin.secret in the hub's data directory.",
		})
		return
	}
	h.startSession(w, r)
	h.log.Info("dashboard login", "how", "admin secret", "remote", r.RemoteAddr)
	http.Redirect(w, r, Prefix+"/", http.StatusSeeOther)
}

// handleLogout ends the session. Like any change it needs the CSRF token
// (form field csrf or the header) and a same-origin request.
func (h *Handler) handleLogout(w http.ResponseWriter, r *http.Request) {
	if err := checkSameOrigin(r); err != nil {
		http.Error(w, err.Error(), http.StatusForbidden)
		return
	}
	c, err := r.Cookie(SessionCookie)
	if err != nil {
		http.Redirect(w, r, Prefix+"/login", http.StatusSeeOther)
		return
	}
	s := h.sessions.get(c.Value, h.opts.Now())
	if s == nil {
		http.Redirect(w, r, Prefix+"/login", http.StatusSeeOther)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxLoginForm)
	tok := r.Header.Get(CSRFHeader)
	if tok == "" {
		r.ParseForm()
		tok = r.PostForm.Get("csrf")
	}
	if !s.checkCSRF(tok) {
		http.Error(w, "missing or wrong CSRF token", http.StatusForbidden)
		return
	}
	h.sessions.remove(c.Value)
	http.SetCookie(w, &http.Cookie{
		Name: SessionCookie, Value: "", Path: Prefix + "/", MaxAge: -1,
		HttpOnly: true, Secure: h.opts.Secure || r.TLS != nil, SameSite: http.SameSiteStrictMode,
	})
	target := Prefix + "/login"
	if h.opts.Open {
		target = Prefix + "/"
	}
	http.Redirect(w, r, target, http.StatusSeeOther)
}
