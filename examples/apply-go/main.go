// Command install-hello writes a service's config directory and files all or
// nothing through `unwind apply`, and reads the outcome from its --json.
// Environment: CONFIG_DIR (/etc/hello), JOURNAL_ROOT (/var/lib/hello-installer),
// UNWIND (unwind). Exit code: unwind's (0 installed, 1 rolled back, ...).
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// The fields of `unwind apply --json` this installer reads.
type applyResult struct {
	OK       bool `json:"ok"`
	ExitCode int  `json:"exitCode"`
	Problems []struct {
		Pointer string `json:"pointer"`
		Message string `json:"message"`
	} `json:"problems"`
	Outcome *struct {
		Status string `json:"status"`
		Cause  *struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"cause"`
		Steps []struct {
			Description string `json:"description"`
			Status      string `json:"status"`
		} `json:"steps"`
	} `json:"outcome"`
}

func setting(name, fallback string) string {
	if value := os.Getenv(name); value != "" {
		return value
	}
	return fallback
}

func main() {
	configDir := setting("CONFIG_DIR", "/etc/hello")
	root := setting("JOURNAL_ROOT", "/var/lib/hello-installer")
	file := map[string]any{
		"name": "install hello",
		"steps": []map[string]any{
			{"kind": "files.ensureDir", "args": map[string]any{"path": configDir, "mode": 0o755}},
			{"kind": "files.writeFile", "args": map[string]any{"path": filepath.Join(configDir, "hello.conf"), "content": "listen = 127.0.0.1:8080\n", "mode": 0o644}},
			{"kind": "files.writeFile", "args": map[string]any{"path": filepath.Join(configDir, "hello.env"), "content": "HELLO_OPTS=--quiet\n", "mode": 0o600}},
		},
	}
	input, err := json.Marshal(file)
	if err != nil {
		fmt.Fprintln(os.Stderr, "install-hello:", err)
		os.Exit(4)
	}
	cmd := exec.Command(setting("UNWIND", "unwind"), "apply", "--json", "--root", root, "-")
	cmd.Stdin = bytes.NewReader(input)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	var exitErr *exec.ExitError
	if err != nil && !errors.As(err, &exitErr) {
		fmt.Fprintln(os.Stderr, "install-hello: cannot run unwind:", err)
		os.Exit(4)
	}
	if cmd.ProcessState.ExitCode() < 0 { // killed by a signal: its journal is unfinished
		fmt.Fprintf(os.Stderr, "install-hello: unwind was killed (%v); finish its rollback with `unwind recover --root %s`\n", cmd.ProcessState, root)
		os.Exit(2)
	}
	var result applyResult
	if json.Unmarshal(stdout.Bytes(), &result) != nil {
		fmt.Fprint(os.Stderr, stderr.String()) // unwind could not start: it says why
		os.Exit(cmd.ProcessState.ExitCode())
	}
	for _, p := range result.Problems {
		fmt.Fprintf(os.Stderr, "%s: %s\n", p.Pointer, p.Message)
	}
	if result.Outcome != nil {
		for _, s := range result.Outcome.Steps {
			fmt.Printf("%-11s %s\n", s.Status, s.Description)
		}
		if result.Outcome.Cause != nil {
			fmt.Fprintf(os.Stderr, "install-hello: %s (%s)\n", result.Outcome.Cause.Message, result.Outcome.Cause.Code)
		}
	}
	if result.OK {
		fmt.Println("hello is installed.")
	}
	os.Exit(result.ExitCode)
}
