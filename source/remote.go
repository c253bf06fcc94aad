package source

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	git "github.com/go-git/go-git/v5"
	gitconfig "github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	gitssh "github.com/go-git/go-git/v5/plumbing/transport/ssh"
	"github.com/go-git/go-git/v5/storage/memory"

	"github.com/slipwayci/slipway/internal/redact"
)

// DefaultTokenUser is the basic-auth user name sent with a token when
// Auth.Username is empty.
const DefaultTokenUser = "x-access-token"

// ListTags lists the remote's tags, like `git ls-remote --tags`, without
// downloading any object. Names come without "refs/tags/", sorted, each once.
// ctx bounds the whole call.
func ListTags(ctx context.Context, url string, auth Auth) ([]string, error) {
	refs, err := listRefs(ctx, "list tags of", url, auth)
	if err != nil {
		return nil, err
	}
	var tags []string
	for _, r := range refs {
		if r.Name().IsTag() {
			tags = append(tags, r.Name().Short())
		}
	}
	slices.Sort(tags)
	return slices.Compact(tags), nil
}

// ListBranches lists the remote's branch heads, like `git ls-remote
// --heads`, in one call that downloads no object: full ref name
// ("refs/heads/main") to commit hash. It uses the transport and
// credentials of fetches. ctx bounds the whole call.
func ListBranches(ctx context.Context, url string, auth Auth) (map[string]string, error) {
	refs, err := listRefs(ctx, "list branches of", url, auth)
	if err != nil {
		return nil, err
	}
	heads := map[string]string{}
	for _, r := range refs {
		if r.Name().IsBranch() && r.Type() == plumbing.HashReference {
			heads[r.Name().String()] = r.Hash().String()
		}
	}
	return heads, nil
}

// listRefs lists the remote's refs (nil for an empty repository); what
// names the call in errors.
func listRefs(ctx context.Context, what, url string, auth Auth) ([]*plumbing.Reference, error) {
	safeURL := redact.URL(url)
	am, err := authMethod(url, auth)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", what, safeURL, err)
	}
	remote := git.NewRemote(memory.NewStorage(), &gitconfig.RemoteConfig{Name: "origin", URLs: []string{transportURL(url)}})
	refs, err := remote.ListContext(ctx, &git.ListOptions{Auth: am})
	if errors.Is(err, transport.ErrEmptyRemoteRepository) {
		return nil, nil
	}
	if err != nil {
		return nil, remoteError(ctx, ctx, what, safeURL, 0, err, auth.Token)
	}
	return refs, nil
}

// authMethod turns Auth into go-git's transport auth for url.
func authMethod(url string, a Auth) (transport.AuthMethod, error) {
	ep, err := transport.NewEndpoint(url)
	if err != nil {
		return nil, fmt.Errorf("parse repository URL: %w", errors.New(redact.Text(err.Error(), a.Token)))
	}
	switch ep.Protocol {
	case "http", "https":
		if a.Token == "" {
			return nil, nil // anonymous, or credentials in the URL itself
		}
		user := a.Username
		if user == "" {
			user = DefaultTokenUser
		}
		return &githttp.BasicAuth{Username: user, Password: a.Token}, nil
	case "ssh":
		if a.SSHKeyFile == "" {
			return nil, nil // go-git falls back to the SSH agent
		}
		user := a.Username
		if user == "" {
			user = ep.User
		}
		if user == "" {
			user = "git"
		}
		keys, err := gitssh.NewPublicKeysFromFile(user, a.SSHKeyFile, "")
		if err != nil {
			return nil, fmt.Errorf("ssh key %s (check projects[].git_ssh_key_file): %w", a.SSHKeyFile, err)
		}
		files, err := knownHostsFiles(a.KnownHostsFile)
		if err != nil {
			return nil, err
		}
		cb, err := gitssh.NewKnownHostsCallback(files...)
		if err != nil {
			return nil, fmt.Errorf("known_hosts %s: %w", strings.Join(files, ", "), err)
		}
		keys.HostKeyCallback = cb
		return keys, nil
	}
	return nil, nil
}

// knownHostsFiles returns the known_hosts files to verify SSH hosts with:
// the one given, else those of $SSH_KNOWN_HOSTS, else the usual places. At
// least one must exist: host keys are never accepted blindly.
func knownHostsFiles(explicit string) ([]string, error) {
	var files []string
	switch {
	case explicit != "":
		files = []string{explicit}
	case os.Getenv("SSH_KNOWN_HOSTS") != "":
		files = filepath.SplitList(os.Getenv("SSH_KNOWN_HOSTS"))
	default:
		if home, err := os.UserHomeDir(); err == nil {
			files = append(files, filepath.Join(home, ".ssh", "known_hosts"))
		}
		files = append(files, "/etc/ssh/ssh_known_hosts")
	}
	var found []string
	for _, f := range files {
		if _, err := os.Stat(f); err == nil {
			found = append(found, f)
		}
	}
	if len(found) == 0 {
		return nil, errorKind(ErrAuthFailed, "no known_hosts file among %s: the SSH host key cannot be verified (add the host with `ssh-keyscan HOST >> ~/.ssh/known_hosts` or set SSH_KNOWN_HOSTS)", strings.Join(files, ", "))
	}
	return found, nil
}
