//go:build !unix

package atomicfile

// MatchOwner does nothing where files have no Unix owners.
func MatchOwner(path, dir string) error { return nil }

// Directories cannot be synced everywhere (Windows); renames there are
// durable enough.
func syncUnsupported(err error) bool { return true }
