package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/slipwayci/slipway/pipeline"
)

func cmdTags(args []string, stdout, stderr io.Writer) error {
	fs, cfgFlag := newFlagSet("tags", stderr)
	ref := fs.String("ref", "", "branch or tag ref (refs/heads/main, refs/tags/v1.2.3, main)")
	schedule := fs.String("schedule", "", "schedule name")
	at := fs.String("at", "", "the schedule's due time, RFC3339 (default now)")
	commit := fs.String("commit", "0000000000000000000000000000000000000000", "commit whose short form appears in tags")
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
	_ = at
	if *schedule != "" {
		return fmt.Errorf("--schedule: scheduled releases are not available yet")
	}
	cfg, err := loadConfig(*cfgFlag)
	if err != nil {
		return err
	}
	p, err := cfg.Project(pos[0])
	if err != nil {
		return err
	}
	full := *ref
	if !strings.HasPrefix(full, "refs/") {
		full = "refs/heads/" + full
	}
	tags, err := pipeline.Tags(p, full, *commit)
	if err != nil {
		return err
	}
	for _, t := range tags {
		fmt.Fprintf(stdout, "%s:%s\n", p.Image, t.Name)
	}
	return nil
}
