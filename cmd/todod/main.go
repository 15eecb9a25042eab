// Command todod is a task API for multi-user todo applications: the backend
// of a Next.js + Better Auth frontend, on PostgreSQL or an embedded SQLite file.
//
// Usage:
//
//	todod [serve]     run the server (the default)
//	todod migrate     apply database migrations and exit
//	todod token       print a token for a user, signed with the configured or dev secret
//	todod openapi     print the OpenAPI document
//	todod healthcheck exit 0 if the server at the configured address is ready
//	todod version     print the version
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "todod:", err)
		}
		os.Exit(1)
	}
}

// run is the whole program, callable from tests: it returns when ctx is
// cancelled (serve) or when the subcommand is done.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	cmd := "serve"
	if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		cmd, args = args[0], args[1:]
	}
	wd, err := os.Getwd()
	if err != nil {
		return err
	}
	lookup, err := envLookup(getenv, wd)
	if err != nil {
		return err
	}
	switch cmd {
	case "serve":
		return serve(ctx, args, lookup, stdout, stderr)
	case "migrate":
		return migrate(ctx, args, lookup, stderr)
	case "token":
		return token(args, lookup, stdout, stderr)
	case "openapi":
		return printOpenAPI(args, stdout, stderr)
	case "healthcheck":
		return healthcheck(ctx, args, lookup, stderr)
	case "version":
		fmt.Fprintln(stdout, "todod", buildVersion())
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		return fmt.Errorf("unknown command %q\n%s", cmd, usage)
	}
}

const usage = `todod — a task API for multi-user todo applications

Usage:
  todod [serve] [flags]          run the server (flags: todod serve -h)
  todod migrate [flags]          apply database migrations and exit
  todod token --sub ID [--ttl 1h] print a token signed with the configured or dev secret
  todod openapi                  print the OpenAPI document
  todod healthcheck [flags]      exit 0 if the server at the configured address is ready
  todod version                  print the version
`
