// Command sshlist lists the keys of the SSH agent at $SSH_AUTH_SOCK as
// `ssh-add -l` does ("256 SHA256:… comment (ssh-ed25519)"), with the
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
