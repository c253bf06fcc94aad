package main

import (
	"fmt"
	"io"
	"os"

	"github.com/slipwayci/slipway/hub"
)

// cmdImportHub prints the slipway project of Docker Hub build settings read
// from FILE, or from stdin without one.
func cmdImportHub(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs, _ := newFlagSet("import-hub", stderr)
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 1 {
		return usageError{"import-hub takes at most one FILE"}
	}
	in := stdin
	if len(pos) == 1 && pos[0] != "-" {
		f, err := os.Open(pos[0])
		if err != nil {
			return err
		}
		defer f.Close()
		in = f
	}
	out, err := hub.Import(in)
	if err != nil {
		return err
	}
	_, err = fmt.Fprint(stdout, out)
	return err
}
