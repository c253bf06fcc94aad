// Package registry owns what slipway puts into image registries: the tag
// rules (pure functions of branch, commit and default branch), the
// credentials of each registry host (the slipway config's registries[] over
// the docker CLI's config.json), and the push of a built image through the
// Docker engine with a read-back of every pushed manifest from the registry
// (go-containerregistry) to check its digest.
//
// The package sits after builder in the data's way and never calls back up:
// it does not import pipeline, server, builder, source or store.
package registry
