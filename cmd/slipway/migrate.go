package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/slipwayci/slipway/store"
)

// migrateCommand copies a SQLite data_dir into an empty PostgreSQL database
// (store.Migrate) and prints what it copied.
func migrateCommand(s streams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "migrate --from sqlite:DATA_DIR --to postgres://USER@HOST/DB",
		Short: "Copy a SQLite data_dir into an empty PostgreSQL database (stop slipway first)",
		Args:  noArgs,
	}
	from := cmd.Flags().String("from", "", "sqlite:PATH: the data_dir (or its slipway.db) to copy; stop slipway first")
	to := cmd.Flags().String("to", "", "postgres://USER[:PASSWORD]@HOST:PORT/DB: an empty database (PGPASSWORD works too)")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if *from == "" || *to == "" {
			return usageError{"migrate needs --from sqlite:PATH and --to postgres://…"}
		}
		c, err := store.Migrate(cmd.Context(), *from, *to)
		if err != nil {
			return err
		}
		fmt.Fprintf(s.out, "copied %d builds, %d deliveries, %d schedule marks and %d build logs (%d bytes) to %s\n",
			c.Builds, c.Deliveries, c.ScheduleMarks, c.Logs, c.LogBytes, store.RedactURL(*to))
		return nil
	}
	return cmd
}
