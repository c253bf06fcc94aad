package store

import (
	"testing"
	"time"
)

// testDeployments: deployments are recorded with an ID and read back per
// target and service, newest first, across a reopen.
func testDeployments(t *testing.T, be testBackend) {
	database, dir := be.newDB(t)
	ctx := t.Context()
	s, err := OpenDatabase(ctx, database, dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 12, 6, 8, 0, 0, 123, time.UTC)
	first, err := s.RecordDeployment(ctx, Deployment{Project: "web", Target: "prod", Stack: "web", Service: "web_app", Image: "reg/web",
		PreviousDigest: "sha256:aa", Digest: "sha256:bb", Build: 40, Commit: "c40", Status: "converged", At: at})
	if err != nil || first.ID == 0 || first.Kind != DeploymentBuild {
		t.Fatalf("RecordDeployment = %+v, %v; want an ID and kind build", first, err)
	}
	second, err := s.RecordDeployment(ctx, Deployment{Project: "web", Target: "prod", Stack: "web", Service: "web_app", Image: "reg/web",
		PreviousDigest: "sha256:bb", Digest: "sha256:aa", Build: 39, Kind: DeploymentManual, Status: "rolled_back", Error: "probe: 500", At: at.Add(time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.RecordDeployment(ctx, Deployment{Project: "api", Target: "prod", Service: "api", Digest: "sha256:cc", Status: "converged"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = OpenDatabase(ctx, database, dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got, err := s.Deployments(ctx, "prod", "web_app", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0] != second || got[1] != first {
		t.Fatalf("Deployments(prod, web_app) = %+v, want the second then the first:\n%+v\n%+v", got, second, first)
	}
	if all, err := s.Deployments(ctx, "", "", 2); err != nil || len(all) != 2 || all[0].Service != "api" {
		t.Errorf("Deployments(all, limit 2) = %+v, %v; want the newest two, api first", all, err)
	}
	if none, err := s.Deployments(ctx, "prod", "nothing", 0); err != nil || none == nil || len(none) != 0 {
		t.Errorf("Deployments of an unknown service = %#v, %v; want an empty list", none, err)
	}
}

// testNotifications: a queued notification is claimed once (a second claim
// within the hold gets nothing), comes due again after the hold when its
// sender died, and is finished sent.
func testNotifications(t *testing.T, be testBackend) {
	database, dir := be.newDB(t)
	ctx := t.Context()
	s, err := OpenDatabase(ctx, database, dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	now := time.Date(2026, 12, 6, 9, 0, 0, 0, time.UTC)
	fixClock(s, now)
	n, err := s.QueueNotification(ctx, Notification{Target: "ops", Event: "failed", Build: 7, Body: `{"event":"failed"}`, Deadline: now.Add(time.Hour)})
	if err != nil || n.ID == 0 {
		t.Fatalf("QueueNotification = %+v, %v", n, err)
	}
	got, err := s.ClaimNotifications(ctx, now, time.Minute, 10)
	if err != nil || len(got) != 1 || got[0].ID != n.ID || got[0].Body != n.Body || !got[0].Deadline.Equal(n.Deadline) {
		t.Fatalf("first claim = %+v, %v; want the notification", got, err)
	}
	if again, err := s.ClaimNotifications(ctx, now.Add(time.Second), time.Minute, 10); err != nil || len(again) != 0 {
		t.Errorf("claim within the hold = %+v, %v; want nothing", again, err)
	}
	later, err := s.ClaimNotifications(ctx, now.Add(2*time.Minute), time.Minute, 10)
	if err != nil || len(later) != 1 {
		t.Fatalf("claim after the hold = %+v, %v; want the notification again", later, err)
	}
	if err := s.FinishNotification(ctx, n.ID, NotificationSent, 2, now, ""); err != nil {
		t.Fatal(err)
	}
	if done, err := s.ClaimNotifications(ctx, now.Add(time.Hour), time.Minute, 10); err != nil || len(done) != 0 {
		t.Errorf("claim of a sent notification = %+v, %v; want nothing", done, err)
	}
	if back, err := s.GetNotification(ctx, n.ID); err != nil || back.Status != NotificationSent || back.Attempts != 2 {
		t.Errorf("GetNotification = %+v, %v; want sent after 2 attempts", back, err)
	}
}
