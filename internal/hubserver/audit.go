package hubserver

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"

	"github.com/parley-dev/parley/internal/hub"
)

// AuditFile is the audit log in the data directory: one JSON object (a
// hub.AuditRecord) per line for every admin action (reset, token
// revocation, forced name release), appended, mode 0600. It never holds
// a token or a secret.
const AuditFile = "audit.log"

// auditLog appends admin actions to AuditFile. It is safe for concurrent
// use.
type auditLog struct {
	log *slog.Logger

	mu sync.Mutex
	f  *os.File // nil once closed
}

func openAudit(dir string, log *slog.Logger) (*auditLog, error) {
	path := filepath.Join(dir, AuditFile)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("hubserver: audit log: %w", err)
	}
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return nil, fmt.Errorf("hubserver: audit log: %w", err)
	}
	return &auditLog{log: log, f: f}, nil
}

// write appends rec and syncs it to disk. A failure is logged: the
// action itself is already committed.
func (a *auditLog) write(rec hub.AuditRecord) {
	b, err := json.Marshal(rec)
	if err != nil {
		a.log.Error("audit log: encode", "err", err)
		return
	}
	b = append(b, '\n')
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.f == nil {
		a.log.Error("audit log is closed; action not recorded", "action", rec.Action, "target", rec.Target)
		return
	}
	if _, err := a.f.Write(b); err != nil {
		a.log.Error("audit log: write", "err", err, "action", rec.Action, "target", rec.Target)
		return
	}
	if err := a.f.Sync(); err != nil {
		a.log.Error("audit log: sync", "err", err)
	}
}

// close closes the file; it is safe to call more than once.
func (a *auditLog) close() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.f == nil {
		return nil
	}
	err := a.f.Close()
	a.f = nil
	return err
}
