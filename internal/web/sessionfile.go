package web

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// sessionFile keeps the dashboard's logins on disk, so that restarting
// the hub does not log everyone out. It holds, per login, the SHA-256 of
// the session id and the expiry: nothing in it logs anyone in. The file
// is bound to the admin secret, since a login acts with it: a hub
// started with another secret ignores the logins made under the old one.
type sessionFile struct {
	path    string
	binding string // derived from the admin secret; see bindingOf
}

// sessionFileData is the file's JSON.
type sessionFileData struct {
	Version  int                 `json:"version"`
	Binding  string              `json:"binding"`
	Sessions []sessionFileRecord `json:"sessions"`
}

type sessionFileRecord struct {
	IDHash  string    `json:"id_sha256"`
	Expires time.Time `json:"expires"`
}

const sessionFileVersion = 1

// bindingOf names an admin secret without revealing it.
func bindingOf(adminSecret string) string {
	m := hmac.New(sha256.New, []byte(adminSecret))
	m.Write([]byte("parley dashboard sessions"))
	return hex.EncodeToString(m.Sum(nil))
}

// load returns the logins in the file: none when there is no file yet,
// or when it was written under another admin secret.
func (f *sessionFile) load() (map[[32]byte]time.Time, error) {
	data, err := os.ReadFile(f.path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", f.path, err)
	}
	var d sessionFileData
	if err := json.Unmarshal(data, &d); err != nil {
		return nil, fmt.Errorf("read %s: %w", f.path, err)
	}
	if d.Version != sessionFileVersion {
		return nil, fmt.Errorf("read %s: version %d, want %d", f.path, d.Version, sessionFileVersion)
	}
	if !hmac.Equal([]byte(d.Binding), []byte(f.binding)) {
		return nil, nil // another admin secret: its logins are void
	}
	out := make(map[[32]byte]time.Time, len(d.Sessions))
	for i, r := range d.Sessions {
		var k [32]byte
		if n, err := hex.Decode(k[:], []byte(r.IDHash)); err != nil || n != len(k) {
			return nil, fmt.Errorf("read %s: sessions[%d].id_sha256 is not 64 hex digits", f.path, i)
		}
		out[k] = r.Expires
	}
	return out, nil
}

// save replaces the file with these logins, atomically: a crash leaves
// the old file or the new one, never a part.
func (f *sessionFile) save(byKey map[[32]byte]time.Time) error {
	d := sessionFileData{Version: sessionFileVersion, Binding: f.binding, Sessions: make([]sessionFileRecord, 0, len(byKey))}
	for k, exp := range byKey {
		d.Sessions = append(d.Sessions, sessionFileRecord{IDHash: hex.EncodeToString(k[:]), Expires: exp.UTC()})
	}
	data, err := json.Marshal(d)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(f.path), filepath.Base(f.path)+".tmp*")
	if err != nil {
		return fmt.Errorf("write %s: %w", f.path, err)
	}
	defer os.Remove(tmp.Name()) // after the rename, there is nothing to remove
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", f.path, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", f.path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", f.path, err)
	}
	if err := os.Rename(tmp.Name(), f.path); err != nil {
		return fmt.Errorf("write %s: %w", f.path, err)
	}
	return nil
}
