package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/todod/todod/internal/auth"
	"github.com/todod/todod/internal/httpapi"
)

func migrate(ctx context.Context, args []string, lookup func(string) string, stderr io.Writer) error {
	fs := flag.NewFlagSet("todod migrate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	c, err := loadConfig(fs, args, lookup, isTerminal(stderr))
	if err != nil {
		return err
	}
	logger := newLogger(c, stderr)
	store, err := openStore(ctx, c, logger)
	if err != nil {
		return fmt.Errorf("opening the database: %w", err)
	}
	defer store.Close()
	if err := migrateDatabase(ctx, c, store, logger); err != nil {
		return fmt.Errorf("migrating the database: %w", err)
	}
	logger.Info("migrations applied", "engine", c.Engine, "database", redactURL(c.Engine, c.DatabaseURL))
	return nil
}

// token mints an HS256 token with the configured secret, or with the dev auth
// mode secret when one has been generated beside the database.
func token(args []string, lookup func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("todod token", flag.ContinueOnError)
	fs.SetOutput(stderr)
	sub := fs.String("sub", "", "user id to put in the token's sub claim (required)")
	ttl := fs.Duration("ttl", time.Hour, "how long the token is valid")
	c, err := loadConfig(fs, args, lookup, false)
	if err != nil {
		return err
	}
	if *sub == "" {
		return errors.New("token: --sub is required, e.g. todod token --sub dev-user")
	}
	if *ttl <= 0 {
		return errors.New("token: --ttl must be positive")
	}
	secret := c.Secret
	if len(secret) == 0 {
		b, err := os.ReadFile(devSecretPath(c))
		if err != nil {
			return fmt.Errorf("token: BETTER_AUTH_SECRET is not set and no dev secret was found at %s (start `todod` once in dev auth mode, or set BETTER_AUTH_SECRET)", devSecretPath(c))
		}
		secret = []byte(strings.TrimSpace(string(b)))
	}
	if len(secret) < auth.MinSecretLen {
		return fmt.Errorf("token: the secret is %d bytes; it must be at least %d (make one with: openssl rand -base64 32)", len(secret), auth.MinSecretLen)
	}
	tok, err := auth.Mint(secret, *sub, *ttl, time.Now())
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, tok)
	return nil
}

func printOpenAPI(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("todod openapi", flag.ContinueOnError)
	fs.SetOutput(stderr)
	if err := fs.Parse(args); err != nil {
		return err
	}
	doc, err := httpapi.OpenAPIDocument(buildVersion())
	if err != nil {
		return err
	}
	_, err = stdout.Write(append(doc, '\n'))
	return err
}

// healthcheck asks the server at the configured address whether it is ready;
// it is what a container HEALTHCHECK runs, so images need no curl.
func healthcheck(ctx context.Context, args []string, lookup func(string) string, stderr io.Writer) error {
	fs := flag.NewFlagSet("todod healthcheck", flag.ContinueOnError)
	fs.SetOutput(stderr)
	timeout := fs.Duration("timeout", 3*time.Second, "how long to wait for an answer")
	c, err := loadConfig(fs, args, lookup, false)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+displayAddr(c.Addr)+"/readyz", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("healthcheck: /readyz answered %s", resp.Status)
	}
	return nil
}
