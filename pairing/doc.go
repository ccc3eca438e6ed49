// Package pairing decides who may watch: one-time pairing codes made by the
// household CLI, and the tokens that phones get for them, kept on the device
// only as hashes and revocable at once.
//
// Data directory layout:
//
//	pairing-codes/<sha256 of code>.json   pending codes (member, expiry)
//	pairing-codes/<sha256 of code>.used   redeemed codes, kept an hour past expiry
//	tokens.json                           paired devices with token hashes
//	tokens.lock                           taken while tokens.json is changed
//	tokens-used.json                      when each device last watched, to the minute
//
// The CLI (doorbell member pair) writes a code file; the daemon redeems it
// on POST /api/pair and appends a token to tokens.json. doorbell member
// revoke rewrites tokens.json; the daemon's Store notices the replaced file
// on the next Authorize (one stat) or within PollInterval.
//
// The HTTP handler of POST /api/pair is in pairhttp, the address that links
// name in linkaddr, and the link's format in package wire.
package pairing
