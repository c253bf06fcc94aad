package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/slipwayci/slipway/store"
)

// backupCommand copies the SQLite database of the config's data_dir to
// FILE while slipway may run (store.Backup).
func backupCommand(s streams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "backup [--config FILE] FILE",
		Short: "Copy the database to FILE, consistent, while slipway runs (SQLite; pg_dump for PostgreSQL)",
		Args:  args(1, "backup takes the FILE to write"),
	}
	cfgFlag := configFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, pos []string) error {
		cfg, err := loadConfig(*cfgFlag)
		if err != nil {
			return err
		}
		if err := store.Backup(cmd.Context(), cfg.Database.Value(), cfg.DataDir, pos[0]); err != nil {
			return err
		}
		_, err = fmt.Fprintf(s.out, "copied %s/slipway.db to %s\n", cfg.DataDir, pos[0])
		return err
	}
	return cmd
}
