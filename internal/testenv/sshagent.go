package testenv

import (
	"crypto/ed25519"
	"crypto/rand"
	"net"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

// SSHAgent is an SSH agent a test serves on a unix socket, holding one
// new ed25519 key.
type SSHAgent struct {
	// Socket is the agent's socket, for SSH_AUTH_SOCK.
	Socket string
	// Key is the key as SSHList prints it: "key SHA256:… COMMENT
	// (ssh-ed25519)".
	Key string
}

// StartSSHAgent serves an SSH agent until the test ends.
func StartSSHAgent(t testing.TB) SSHAgent {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	comment := "slipway-test-" + RandomHex(t)
	keyring := agent.NewKeyring()
	if err := keyring.Add(agent.AddedKey{PrivateKey: priv, Comment: comment}); err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	// A short directory: unix socket paths are limited to 108 bytes.
	dir, err := os.MkdirTemp("", "agent")
	if err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "agent.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_ = agent.ServeAgent(keyring, c)
			}()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		<-done
		os.RemoveAll(dir)
	})
	return SSHAgent{Socket: sock, Key: "key " + ssh.FingerprintSHA256(signer.PublicKey()) + " " + comment + " (ssh-ed25519)"}
}

// SSHList compiles a static program for images that lists the keys of the
// SSH agent at $SSH_AUTH_SOCK as `ssh-add -l` does, one "key SHA256:…
// COMMENT (TYPE)" line each, then "N keys"; it exits 1 without an agent.
// A RUN --mount=type=ssh step runs it to prove it sees the forwarded agent.
func SSHList(t testing.TB) string {
	t.Helper()
	return StaticBinary(t, sshListSource)
}

const sshListSource = `// Command sshlist lists the keys of the SSH agent at $SSH_AUTH_SOCK as
// ` + "`" + `ssh-add -l` + "`" + ` does ("256 SHA256:… comment (ssh-ed25519)"), with the
// standard library only: a RUN --mount=type=ssh step of a test runs it.
package main

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os"
)

func main() {
	if err := list(os.Getenv("SSH_AUTH_SOCK")); err != nil {
		fmt.Println("sshlist:", err)
		os.Exit(1)
	}
}

func list(sock string) error {
	if sock == "" {
		return fmt.Errorf("SSH_AUTH_SOCK is not set")
	}
	c, err := net.Dial("unix", sock)
	if err != nil {
		return err
	}
	defer c.Close()
	// SSH_AGENTC_REQUEST_IDENTITIES (11), framed by its length.
	if _, err := c.Write([]byte{0, 0, 0, 1, 11}); err != nil {
		return err
	}
	var n uint32
	if err := binary.Read(c, binary.BigEndian, &n); err != nil {
		return err
	}
	msg := make([]byte, n)
	if _, err := io.ReadFull(c, msg); err != nil {
		return err
	}
	if len(msg) < 5 || msg[0] != 12 { // SSH_AGENT_IDENTITIES_ANSWER
		return fmt.Errorf("unexpected answer %v", msg)
	}
	count := binary.BigEndian.Uint32(msg[1:5])
	rest := msg[5:]
	for range count {
		var blob, comment []byte
		if blob, rest, err = str(rest); err != nil {
			return err
		}
		if comment, rest, err = str(rest); err != nil {
			return err
		}
		keyType, _, err := str(blob)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(blob)
		fmt.Printf("key SHA256:%s %s (%s)\n", base64.RawStdEncoding.EncodeToString(sum[:]), comment, keyType)
	}
	fmt.Printf("%d keys\n", count)
	return nil
}

// str splits an SSH wire-format string off b.
func str(b []byte) (s, rest []byte, err error) {
	if len(b) < 4 {
		return nil, nil, fmt.Errorf("short message")
	}
	n := binary.BigEndian.Uint32(b)
	if uint32(len(b)-4) < n {
		return nil, nil, fmt.Errorf("short message")
	}
	return b[4 : 4+n], b[4+n:], nil
}
`
