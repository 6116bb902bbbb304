package web_test

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/parley-dev/parley/internal/web"
)

// TestLoginsOutliveARestart starts a second Handler on the first one's
// session file, as a restarted hub does, and checks which logins it
// honours.
func TestLoginsOutliveARestart(t *testing.T) {
	file := filepath.Join(t.TempDir(), "sessions.json")
	withFile := func(o *web.Options) { o.SessionFile = file }
	first := newEnv(t, withFile)
	kept, keptCSRF := first.login(t)
	gone, goneCSRF := first.login(t)
	form := map[string]string{"Content-Type": "application/x-www-form-urlencoded", "Origin": "http://parley.test"}
	if res := first.do("POST", "/dashboard/logout", strings.NewReader("csrf="+goneCSRF), form, gone); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("logout: got %d, want 303", res.StatusCode)
	}

	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	for _, secretPart := range []string{kept.Value, keptCSRF, secret} {
		if strings.Contains(string(data), secretPart) {
			t.Errorf("the session file holds a secret: %q in %s", secretPart, data)
		}
	}
	if fi, err := os.Stat(file); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("session file mode: %v, %v; want 0600", fi.Mode(), err)
	}

	later := func(mod func(*web.Options), d time.Duration) *env {
		e := newEnv(t, func(o *web.Options) { withFile(o); mod(o) })
		e.clk.Add(d)
		return e
	}
	same := func(*web.Options) {}
	tests := []struct {
		name   string
		hub    *env
		cookie *http.Cookie
		want   int
	}{
		{"kept login", later(same, time.Hour), kept, http.StatusOK},
		{"logged out", later(same, time.Hour), gone, http.StatusUnauthorized},
		{"expired", later(same, web.DefaultSessionTTL+time.Second), kept, http.StatusUnauthorized},
		{"another admin secret", later(func(o *web.Options) { o.AdminSecret = secret + "-rotated" }, time.Hour), kept, http.StatusUnauthorized},
		{"no file", newEnv(t, nil), kept, http.StatusUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if res := tt.hub.do("GET", "/dashboard/api/peers", nil, nil, tt.cookie); res.StatusCode != tt.want {
				t.Fatalf("API call: got %d, want %d", res.StatusCode, tt.want)
			}
		})
	}

	// The kept login's CSRF token still works: it is derived, not stored.
	e := later(same, time.Hour)
	if got := e.csrf(t, kept); got != keptCSRF {
		t.Errorf("CSRF token after restart: %q, want %q", got, keptCSRF)
	}
	post := map[string]string{"Content-Type": "application/json", "Origin": "http://parley.test", web.CSRFHeader: keptCSRF}
	if res := e.do("POST", "/dashboard/api/messages", strings.NewReader(`{"to":["bob"],"body":"hi"}`), post, kept); res.StatusCode != http.StatusOK {
		t.Errorf("state-changing call after restart: got %d, want 200", res.StatusCode)
	}
}

// TestBadSessionFileLogsEveryoneOut: a file that cannot be read costs
// the logins it held, never the hub's start.
func TestBadSessionFileLogsEveryoneOut(t *testing.T) {
	for name, content := range map[string]string{
		"not JSON":        "{",
		"other version":   `{"version":99,"binding":"x","sessions":[]}`,
		"another binding": `{"version":1,"binding":"x","sessions":[{"id_sha256":"zz","expires":"2030-01-03T00:00:00Z"}]}`,
	} {
		t.Run(name, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "sessions.json")
			if err := os.WriteFile(file, []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
			e := newEnv(t, func(o *web.Options) { o.SessionFile = file })
			c, _ := e.login(t) // and the file is written anew
			again := newEnv(t, func(o *web.Options) { o.SessionFile = file })
			if res := again.do("GET", "/dashboard/api/peers", nil, nil, c); res.StatusCode != http.StatusOK {
				t.Fatalf("login after a bad file, then a restart: got %d, want 200", res.StatusCode)
			}
		})
	}
}
