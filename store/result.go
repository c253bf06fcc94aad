package store

// Result is b as answers show it (the API, `slipway build --json`): lists
// never null, times in UTC.
func Result(b Build) Build {
	normalizeBuild(&b)
	return b
}
