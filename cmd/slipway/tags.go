package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/slipwayci/slipway/internal/gitref"
	"github.com/slipwayci/slipway/pipeline"
	"github.com/slipwayci/slipway/store"
)

func cmdTags(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, cfgFlag := newFlagSet("tags", stderr)
	ref := fs.String("ref", "", "branch or tag ref (main, refs/heads/main, refs/tags/v1.2.3)")
	schedule := fs.String("schedule", "", "schedule name: the tags of its release")
	at := fs.String("at", "", "the schedule's due time, RFC3339 (default now)")
	commit := fs.String("commit", "", "commit whose short form appears in tags (default: none, so no sha tags)")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageError{"tags takes exactly one PROJECT"}
	}
	if (*ref == "") == (*schedule == "") {
		return usageError{"give exactly one of --ref or --schedule"}
	}
	var due time.Time
	if *at != "" {
		if *schedule == "" {
			return usageError{"--at goes with --schedule"}
		}
		due, err = time.Parse(time.RFC3339, *at)
		if err != nil {
			return usageError{fmt.Sprintf("--at %q: want RFC3339 such as 2026-11-23T03:00:00Z", *at)}
		}
	}
	cfg, err := loadConfig(*cfgFlag)
	if err != nil {
		return err
	}
	t := pipeline.Trigger{Kind: store.TriggerManual, Project: pos[0], Ref: gitref.Parse(*ref), Commit: *commit, Schedule: *schedule, Due: due}
	if *schedule != "" {
		t.Kind = store.TriggerSchedule
	}
	plan, err := pipeline.Preview(ctx, cfg, t, time.Now())
	if err != nil {
		return err
	}
	for _, ref := range plan.Refs() {
		fmt.Fprintln(stdout, ref)
	}
	return nil
}
