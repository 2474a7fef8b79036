//go:build !linux

package parser

// setAddressLimit has no portable equivalent of Linux's RLIMIT_AS beyond
// the runtime's soft memory limit: there, the parent's wall-time limit per
// chunk is what ends a child that allocates without end.
func setAddressLimit(limit int64) error { return nil }
