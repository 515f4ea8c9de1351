package consul

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/wsctl/wsctl/discovery"
)

// NamePattern is what every instance ID (and so every server name) this
// source produces matches: safe for HAProxy's runtime socket and configs.
var NamePattern = discovery.NamePattern

const (
	maxNameLen = 63
	hashLen    = 8 // hex digits of SHA-256 in a suffix
)

// ErrIDNotASCII is wrapped by ServerName's error: the ID holds a byte
// outside printable ASCII.
var ErrIDNotASCII = errors.New("service id is not printable ASCII")

// ServerName returns the server name for a Consul service ID. An ID that
// already matches NamePattern is its own name. An ID with a byte outside
// printable ASCII (a control character, or any non-ASCII rune such as the
// look-alikes U+2010 HYPHEN and U+2212 MINUS SIGN) is refused, not folded
// into a name that reads like another instance's. Any other ID has every
// character outside [A-Za-z0-9_.:-] replaced by '-', leading characters
// other than letters and digits and trailing '-' trimmed, is cut to fit,
// and gets '-' and 8 hex digits of the SHA-256 of the original ID appended
// ("web 1" → "web-1-1a2b3c4d"). The suffix depends on the ID alone, so a
// name is stable across runs, and two IDs that sanitise alike ("web 1",
// "web/1") still get different names.
func ServerName(id string) (string, error) {
	if NamePattern.MatchString(id) {
		return id, nil
	}
	for i := 0; i < len(id); i++ {
		if id[i] < ' ' || id[i] > '~' {
			return "", fmt.Errorf("%w: byte 0x%02x at offset %d", ErrIDNotASCII, id[i], i)
		}
	}
	return withSuffix(sanitise(id), id), nil
}

// sanitise maps id onto NamePattern's alphabet, without length limit.
func sanitise(id string) string {
	s := strings.Map(func(r rune) rune {
		if isAlnum(r) || r == '_' || r == '.' || r == ':' || r == '-' {
			return r
		}
		return '-'
	}, id)
	s = strings.TrimLeftFunc(s, func(r rune) bool { return !isAlnum(r) })
	return strings.TrimRight(s, "-")
}

func isAlnum(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9'
}

// withSuffix appends '-' and a hash of key to base (already sanitised),
// cutting base so the result fits NamePattern.
func withSuffix(base, key string) string {
	sum := sha256.Sum256([]byte(key))
	suffix := hex.EncodeToString(sum[:])[:hashLen]
	if room := maxNameLen - 1 - hashLen; len(base) > room {
		base = strings.TrimRight(base[:room], "-")
	}
	if base == "" {
		return suffix
	}
	return base + "-" + suffix
}

// serviceRef is what identifies a service instance in Consul (service IDs
// are unique per node only), with the Raft index at which the catalog
// created it.
type serviceRef struct {
	Node, ID string
	// Created is the entry's CreateIndex: kept while the instance stays
	// registered (re-registering the same node and ID updates it), new
	// when it is registered again after leaving the catalog.
	Created uint64
}

// assignNames returns the server name of each ref (same order); own[i]
// is ServerName(refs[i].ID), which must have accepted it. Refs take names
// oldest first (by Created, then node, then ID, so the result depends only
// on the set of refs, never on their order): each takes its ServerName
// when no older ref holds it, and otherwise a suffix hashed from
// "node/id" — the same service ID registered on several nodes (the default
// when a registration gives no ID, or a registration copying another's
// ID) or an ID that is another's suffixed name. A ref's name thus depends
// only on refs older than it: an instance that appears later never takes
// the name of one that was there, and a name never changes because another
// instance appears.
//
// It runs on every answer of a watch: when no two own names are alike
// (the usual case), each is its ref's name whatever the age order, and
// neither the sort nor a key is needed.
func assignNames(refs []serviceRef, own []string) []string {
	taken := make(map[string]bool, len(refs))
	for _, n := range own {
		taken[n] = true
	}
	if len(taken) == len(own) {
		return slices.Clone(own)
	}
	clear(taken)
	order := make([]int, len(refs))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int { return compareAge(refs[a], refs[b]) })
	names := make([]string, len(refs))
	for _, i := range order {
		r, n := refs[i], own[i]
		for salt := 0; taken[n]; salt++ {
			key := r.Node + "/" + r.ID
			if salt > 0 { // identical refs or a hash clash
				key += "#" + strconv.Itoa(salt)
			}
			n = withSuffix(sanitise(r.ID), key)
		}
		names[i] = n
		taken[n] = true
	}
	return names
}

// compareAge orders refs oldest first, ties (an index of 0 from a source
// that does not report it, or several services created in one
// transaction) broken by node and ID.
func compareAge(a, b serviceRef) int {
	return cmp.Or(cmp.Compare(a.Created, b.Created), cmp.Compare(a.Node, b.Node), cmp.Compare(a.ID, b.ID))
}
