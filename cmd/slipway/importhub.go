package main

import (
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/slipwayci/slipway/hub"
)

// importHubCommand prints the slipway project of Docker Hub build settings
// read from FILE, or from stdin without one (or with "-").
func importHubCommand(s streams) *cobra.Command {
	return &cobra.Command{
		Use:   "import-hub [FILE]",
		Short: "Translate Docker Hub build settings (YAML or JSON; stdin without FILE) into a project",
		Args:  args(-1, "import-hub takes at most one FILE"),
		RunE: func(_ *cobra.Command, pos []string) error {
			in := s.in
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
			_, err = io.WriteString(s.out, out)
			return err
		},
	}
}
