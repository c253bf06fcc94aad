package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/slipwayci/slipway/store"
)

// cmdMigrate copies a SQLite data_dir into an empty PostgreSQL database
// (store.Migrate) and prints what it copied.
func cmdMigrate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("migrate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	from := fs.String("from", "", "sqlite:PATH: the data_dir (or its slipway.db) to copy; stop slipway first")
	to := fs.String("to", "", "postgres://USER[:PASSWORD]@HOST:PORT/DB: an empty database (PGPASSWORD works too)")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageError{fmt.Sprintf("unexpected argument %q", pos[0])}
	}
	if *from == "" || *to == "" {
		return usageError{"migrate needs --from sqlite:PATH and --to postgres://…"}
	}
	c, err := store.Migrate(ctx, *from, *to)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "copied %d builds, %d deliveries, %d schedule marks and %d build logs (%d bytes) to %s\n",
		c.Builds, c.Deliveries, c.ScheduleMarks, c.Logs, c.LogBytes, store.RedactURL(*to))
	return nil
}
