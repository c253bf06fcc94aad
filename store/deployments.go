package store

import (
	"context"
	"fmt"
	"time"
)

// Kinds of a Deployment.
const (
	// DeploymentBuild: the deploy stage of a build.
	DeploymentBuild = "build"
	// DeploymentManual: a redeploy asked for by hand (a rollback).
	DeploymentManual = "manual"
)

// Deployment is one deploy of an image to one swarm service.
type Deployment struct {
	ID      int64  `json:"id"`
	Project string `json:"project"`
	Target  string `json:"target"`
	Stack   string `json:"stack"`
	Service string `json:"service"`
	// Image is the repository deployed (without tag or digest).
	Image string `json:"image"`
	// PreviousDigest is the digest the service ran before ("" when it was
	// not pinned to one, or was created by the deploy).
	PreviousDigest string `json:"previous_digest"`
	Digest         string `json:"digest"`
	// Build is the build whose image was deployed.
	Build  int64  `json:"build"`
	Commit string `json:"commit"`
	// Kind is DeploymentBuild or DeploymentManual.
	Kind string `json:"kind"`
	// Status is the service's outcome: converged, rolled_back or failed.
	Status string    `json:"status"`
	Error  string    `json:"error"`
	At     time.Time `json:"at"`
}

const deploymentColumns = `id, project, target, stack, service, image, previous_digest, digest, build_id, commit_sha, kind, status, error, created_at`

// RecordDeployment stores d (At defaults to now, Kind to DeploymentBuild)
// and returns it with its ID.
func (s *Store) RecordDeployment(ctx context.Context, d Deployment) (Deployment, error) {
	if d.At.IsZero() {
		d.At = s.now()
	}
	d.At = d.At.UTC()
	if d.Kind == "" {
		d.Kind = DeploymentBuild
	}
	err := s.write(ctx, func(tx querier) error {
		return tx.queryRow(ctx, `INSERT INTO deployments (project, target, stack, service, image, previous_digest, digest, build_id, commit_sha, kind, status, error, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
			d.Project, d.Target, d.Stack, d.Service, d.Image, d.PreviousDigest, d.Digest, d.Build, d.Commit, d.Kind, d.Status, d.Error, nanos(d.At)).Scan(&d.ID)
	})
	if err != nil {
		return Deployment{}, fmt.Errorf("record the deployment of %s/%s: %w", d.Target, d.Service, err)
	}
	return d, nil
}

// Deployments returns the deployments to target's service, newest first,
// at most limit (all targets and services when both are ""; limit <= 0
// means 50).
func (s *Store) Deployments(ctx context.Context, target, service string, limit int) ([]Deployment, error) {
	if limit <= 0 {
		limit = 50
	}
	q := `SELECT ` + deploymentColumns + ` FROM deployments`
	var args []any
	if target != "" || service != "" {
		q += ` WHERE target = ? AND service = ?`
		args = append(args, target, service)
	}
	q += ` ORDER BY id DESC LIMIT ?`
	args = append(args, limit)
	rows, err := s.db.query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list deployments: %w", err)
	}
	defer rows.Close()
	out := []Deployment{}
	for rows.Next() {
		var d Deployment
		var at int64
		if err := rows.Scan(&d.ID, &d.Project, &d.Target, &d.Stack, &d.Service, &d.Image, &d.PreviousDigest, &d.Digest, &d.Build, &d.Commit, &d.Kind, &d.Status, &d.Error, &at); err != nil {
			return nil, fmt.Errorf("list deployments: %w", err)
		}
		d.At = fromNanos(at)
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list deployments: %w", err)
	}
	return out, nil
}
