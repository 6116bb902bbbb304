//go:build unix

package e2e

import (
	"io"
	"net/http"
	"net/url"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// seedPeerCurls are seed 001's peer and system examples, exactly as the
// seed writes them, in the order a user would run them; the test only
// points localhost:9100 at the hub's port. want lists what the answer
// must contain.
var seedPeerCurls = []struct {
	curl string
	want []string
}{
	{`curl http://localhost:9100/peers/discover`, []string{`"peers":[]`, `"count":0`}},
	{`curl -X POST http://localhost:9100/peers/connect \
-H 'Content-Type: application/json' \
-d '{"role":"backend","capabilities":["tcp","server"]}'`, []string{`"id":"backend"`, `"token":"pt_`, `"capabilities":["tcp","server"]`}},
	{`curl http://localhost:9100/peers`, []string{`"id":"backend"`, `"role":"backend"`}},
	{`curl http://localhost:9100/peers/discover`, []string{`"id":"backend"`, `"count":1`}},
	{`curl http://localhost:9100/status`, []string{`"open":true`, `"id":"backend"`, `"online":1`}},
	{`curl -X POST http://localhost:9100/reset`, []string{`"ok":true`}},
	{`curl http://localhost:9100/peers`, []string{`"count":1`, `"id":"human"`}},
}

// TestSeedCurlExamples runs seed 001's curl examples against
// `parley serve --open`: through the real curl when it is installed,
// and always through a small interpreter of the same command lines.
func TestSeedCurlExamples(t *testing.T) {
	runners := map[string]func(t *testing.T, port, line string) string{"interpreted": interpretCurl}
	if _, err := exec.LookPath("curl"); err == nil {
		runners["curl"] = realCurl
	} else {
		t.Log("curl is not installed; running the interpreted examples only")
	}
	for name, run := range runners {
		t.Run(name, func(t *testing.T) {
			h := serve(t, filepath.Join(t.TempDir(), "data"), "--open")
			u, err := url.Parse(h.url)
			if err != nil {
				t.Fatal(err)
			}
			for _, ex := range seedPeerCurls {
				out := run(t, u.Port(), ex.curl)
				for _, w := range ex.want {
					if !strings.Contains(out, w) {
						t.Errorf("%s\nanswer lacks %s:\n%s", ex.curl, w, out)
					}
				}
			}
			if err := h.stop(syscall.SIGTERM); err != nil {
				t.Errorf("SIGTERM: %v", err)
			}
		})
	}
}

func realCurl(t *testing.T, port, line string) string {
	t.Helper()
	line = strings.ReplaceAll(line, "localhost:9100", "localhost:"+port)
	cmd := exec.Command("sh", "-c", strings.Replace(line, "curl ", "curl -sS --fail-with-body ", 1))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", line, err, out)
	}
	return string(out)
}

// interpretCurl runs a curl command line of the forms the seed uses:
// curl [-X METHOD] URL [-H 'Header: value'] [-d 'body'].
func interpretCurl(t *testing.T, port, line string) string {
	t.Helper()
	args := shellWords(t, strings.ReplaceAll(line, "\\\n", " "))
	if len(args) == 0 || args[0] != "curl" {
		t.Fatalf("not a curl command: %s", line)
	}
	method, target, body := "", "", ""
	headers := http.Header{}
	for i := 1; i < len(args); i++ {
		switch args[i] {
		case "-X":
			i++
			method = args[i]
		case "-H":
			i++
			k, v, _ := strings.Cut(args[i], ":")
			headers.Add(strings.TrimSpace(k), strings.TrimSpace(v))
		case "-d":
			i++
			body = args[i]
		default:
			target = args[i]
		}
	}
	if method == "" {
		method = "GET"
		if body != "" {
			method = "POST"
		}
	}
	if body != "" && headers.Get("Content-Type") == "" {
		headers.Set("Content-Type", "application/x-www-form-urlencoded") // as curl -d does
	}
	target = strings.ReplaceAll(target, "localhost:9100", "localhost:"+port)
	req, err := http.NewRequest(method, target, strings.NewReader(body))
	if err != nil {
		t.Fatalf("%s: %v", line, err)
	}
	req.Header = headers
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Fatalf("%s: %v", line, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		t.Fatalf("%s: status %d: %s", line, resp.StatusCode, b)
	}
	return string(b)
}

// shellWords splits a command line on spaces, honouring single quotes.
func shellWords(t *testing.T, s string) []string {
	var words []string
	var cur strings.Builder
	in, quoted := false, false
	for _, r := range s {
		switch {
		case r == '\'':
			quoted, in = !quoted, true
		case !quoted && (r == ' ' || r == '\n' || r == '\t'):
			if in {
				words = append(words, cur.String())
				cur.Reset()
				in = false
			}
		default:
			cur.WriteRune(r)
			in = true
		}
	}
	if quoted {
		t.Fatalf("unbalanced quote in %s", s)
	}
	if in {
		words = append(words, cur.String())
	}
	return words
}
