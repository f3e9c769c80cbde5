package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"os"
	"strings"

	"github.com/ktgrpc/ktgrpc/server/access"
)

// bearerToken sends a token as "authorization: Bearer <token>" metadata.
type bearerToken string

// GetRequestMetadata implements credentials.PerRPCCredentials.
func (t bearerToken) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + string(t)}, nil
}

// RequireTransportSecurity implements credentials.PerRPCCredentials. It is
// false so that a gateway on loopback can be reached without TLS; anywhere
// else the gateway should serve TLS, which the client then uses.
func (bearerToken) RequireTransportSecurity() bool { return false }

// readToken takes the token from --token-file, else KTGRPC_TOKEN.
func (cf *clientFlags) readToken(getenv func(string) string) error {
	if cf.tokenFile == "" {
		cf.token = strings.TrimSpace(getenv(envPrefix + "TOKEN"))
		return nil
	}
	b, err := os.ReadFile(cf.tokenFile)
	if err != nil {
		return fmt.Errorf("--token-file: %w", err)
	}
	cf.token = strings.TrimSpace(string(b))
	if cf.token == "" {
		return fmt.Errorf("--token-file %s: the file is empty", cf.tokenFile)
	}
	return nil
}

// token prints a new random bearer token and the tokens-file line that
// grants it rights, so that only the hash needs to be stored on the
// gateway.
func (c *cli) token(_ context.Context, args []string) error {
	fs := c.flagSet("token", "[flags] NAME RIGHTS", `Print a new random bearer token on the first line, and on the second the
tokens-file line that gives it to the caller NAME with RIGHTS (read, write,
admin, replication, comma-separated, or all). The file stores only the token's
SHA-256, so the token itself must be kept by the caller.`)
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 2 {
		return usagef("want NAME RIGHTS, got %d argument(s)", len(pos))
	}
	if strings.ContainsAny(pos[0], " \t#") || pos[0] == "" {
		return usagef("NAME %q: must be one word", pos[0])
	}
	rights, err := access.ParseRights(pos[1])
	if err != nil {
		return usagef("RIGHTS: %v", err)
	}
	var raw [32]byte
	_, _ = rand.Read(raw[:]) // crypto/rand.Read never fails
	tok := base64.RawURLEncoding.EncodeToString(raw[:])
	fmt.Fprintln(c.stdout, tok)
	fmt.Fprintf(c.stdout, "%s %s %s\n", pos[0], rights, access.HashToken(tok))
	return nil
}
