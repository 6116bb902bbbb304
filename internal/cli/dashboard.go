package cli

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/parley-dev/parley/internal/config"
)

// dashboardLinkPath is where a running hub hands out one-time login
// links to a caller holding its admin secret (package web).
const dashboardLinkPath = "/dashboard/login-links"

func newDashboardCmd() *cobra.Command {
	var noBrowser bool
	cmd := &cobra.Command{
		Use:   "dashboard",
		Short: "Open the hub's live dashboard in the browser, logged in",
		Long: `Open the running hub's dashboard: agents, messages, commands, proposals
and everything else live, where you take part as the agent "human".

The command asks the hub for a one-time login link, prints it and opens it
in the browser ($BROWSER, else xdg-open, open or start). The link logs in
once and expires after a few minutes. Asking for it needs the hub's admin
secret, which is read from the data directory (--data), so it works for the
user who runs the hub, on its machine. Elsewhere, open the printed address
and log in with the admin secret. A hub started with --open needs no login.`,
		Example: `  parley dashboard
  parley dashboard --no-browser
  parley dashboard --url http://127.0.0.1:7878 --data ~/.local/share/parley`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runDashboard(cmd, noBrowser)
		},
	}
	cmd.Flags().BoolVar(&noBrowser, "no-browser", false, "print the link without opening a browser")
	return cmd
}

// dashboardLink is the hub's answer to POST /dashboard/login-links.
type dashboardLink struct {
	URL       string    `json:"url"`
	Path      string    `json:"path"`
	ExpiresAt time.Time `json:"expires_at"`
}

func runDashboard(cmd *cobra.Command, noBrowser bool) error {
	g, err := globalsOf(cmd)
	if err != nil {
		return err
	}
	w := cmd.OutOrStdout()
	link := dashboardLink{URL: g.url + "/dashboard/"}
	secret := g.adminSecret()
	if secret != "" {
		ctx, cancel := context.WithTimeout(cmd.Context(), 30*time.Second)
		defer cancel()
		if link, err = newDashboardLink(ctx, g, secret); err != nil {
			return err
		}
	}
	if g.json {
		b, _ := json.Marshal(link)
		return printJSON(w, b)
	}
	if secret == "" {
		fmt.Fprintf(w, "Dashboard: %s\n", link.URL)
		fmt.Fprintf(w, "No admin secret found in %s, so there is no login link: log in with the hub's admin secret (file %s in its data directory), or pass --data.\n",
			g.data, config.AdminSecretFile)
	} else {
		fmt.Fprintf(w, "Dashboard: %s\n", link.URL)
		fmt.Fprintf(w, "This link logs in once, until %s; run parley dashboard again for another.\n", link.ExpiresAt.Local().Format("15:04"))
	}
	if noBrowser {
		return nil
	}
	if err := openBrowser(link.URL); err != nil {
		fmt.Fprintf(cmd.ErrOrStderr(), "Could not open a browser (%v); open the link above yourself.\n", err)
	}
	return nil
}

// newDashboardLink asks the hub for a one-time login link.
func newDashboardLink(ctx context.Context, g globals, secret string) (dashboardLink, error) {
	hc, err := dashboardHTTPClient(g.ca)
	if err != nil {
		return dashboardLink{}, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, g.url+dashboardLinkPath, nil)
	if err != nil {
		return dashboardLink{}, fmt.Errorf("dashboard: hub URL %q: %w", g.url, err)
	}
	req.Header.Set("Authorization", "Bearer "+secret)
	req.Header.Set("Accept", "application/json")
	res, err := hc.Do(req)
	if err != nil {
		return dashboardLink{}, fmt.Errorf("dashboard: %w\n(is the hub running at %s? start one with \"parley serve\", or point --url or $%s at it)", err, g.url, config.EnvURL)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(res.Body, 64<<10))
	switch {
	case res.StatusCode == http.StatusUnauthorized:
		return dashboardLink{}, fmt.Errorf("dashboard: the hub at %s does not accept the admin secret of %s; is it another hub's data directory? (--data)", g.url, g.data)
	case res.StatusCode == http.StatusNotFound:
		return dashboardLink{}, fmt.Errorf("dashboard: the hub at %s serves no dashboard login links; is it an older parley?", g.url)
	case res.StatusCode != http.StatusCreated:
		return dashboardLink{}, fmt.Errorf("dashboard: the hub answered %s: %s", res.Status, oneLine(string(body), 200))
	}
	var link dashboardLink
	if err := json.Unmarshal(body, &link); err != nil || !strings.HasPrefix(link.Path, "/dashboard/") {
		return dashboardLink{}, fmt.Errorf("dashboard: unexpected answer from the hub: %s", oneLine(string(body), 200))
	}
	// The hub's own URL may name another host than the one we reached
	// (a proxy, a path prefix); the path is what matters.
	link.URL = g.url + link.Path
	return link, nil
}

// dashboardHTTPClient trusts the CA file for an https hub, when given.
func dashboardHTTPClient(caFile string) (*http.Client, error) {
	if caFile == "" {
		return &http.Client{}, nil
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("dashboard: CA file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("dashboard: CA file %s: no PEM certificate found", caFile)
	}
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	return &http.Client{Transport: t}, nil
}

// openBrowser opens url with $BROWSER, else the system's opener. It does
// not wait for the browser.
func openBrowser(url string) error {
	var c *exec.Cmd
	switch b := strings.TrimSpace(os.Getenv("BROWSER")); {
	case b != "":
		c = exec.Command(b, url)
	case runtime.GOOS == "darwin":
		c = exec.Command("open", url)
	case runtime.GOOS == "windows":
		c = exec.Command("rundll32", "url.dll,FileProtocolHandler", url)
	default:
		p, err := exec.LookPath("xdg-open")
		if err != nil {
			return errors.New("xdg-open is not installed")
		}
		c = exec.Command(p, url)
	}
	c.Stdout, c.Stderr = nil, nil
	if err := c.Start(); err != nil {
		return err
	}
	// Reap the opener in the background; it usually exits at once.
	go c.Wait()
	return nil
}
