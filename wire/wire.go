// Package wire holds the shapes of what the doorbell and the household's
// programs say to each other: the JSON of the HTTP API and the pairing link.
// Both sides import it; it imports neither.
package wire

// Error is the body of every refusal of the HTTP API: what is wrong, then
// what to do.
type Error struct {
	Error string `json:"error"`
}
