package consul

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
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

// ServerName returns the server name for a Consul service ID. An ID that
// already matches NamePattern is its own name. Any other ID has every
// character outside [A-Za-z0-9_.:-] replaced by '-', leading characters
// other than letters and digits and trailing '-' trimmed, is cut to fit,
// and gets '-' and 8 hex digits of the SHA-256 of the original ID appended
// ("web 1" → "web-1-1a2b3c4d"). The suffix depends on the ID alone, so a
// name is stable across runs and never changes because another instance
// appears, and two IDs that sanitise alike ("web 1", "web/1") still get
// different names.
func ServerName(id string) string {
	if NamePattern.MatchString(id) {
		return id
	}
	return withSuffix(sanitise(id), id)
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

// serviceRef is what identifies a service instance in Consul: service IDs
// are unique per node only.
type serviceRef struct {
	Node, ID string
}

// assignNames returns the server name of each ref (same order). Names come
// from ServerName; when several instances of a backend still share a name
// (the same service ID registered on several nodes — the default when a
// registration gives no ID), the one on the first node in sorted order
// keeps it and the others get a suffix hashed from "node/id" instead. The
// result depends only on the set of refs, never on their order.
func assignNames(refs []serviceRef) []string {
	names := make([]string, len(refs))
	groups := map[string][]int{}
	for i, r := range refs {
		names[i] = ServerName(r.ID)
		groups[names[i]] = append(groups[names[i]], i)
	}
	taken := make(map[string]bool, len(refs))
	var clashes []string
	for name, idx := range groups {
		taken[name] = true
		if len(idx) > 1 {
			clashes = append(clashes, name)
		}
	}
	slices.Sort(clashes)
	for _, name := range clashes {
		idx := groups[name]
		slices.SortFunc(idx, func(a, b int) int {
			return cmp.Or(cmp.Compare(refs[a].Node, refs[b].Node), cmp.Compare(refs[a].ID, refs[b].ID))
		})
		for _, i := range idx[1:] {
			key := refs[i].Node + "/" + refs[i].ID
			n := withSuffix(sanitise(refs[i].ID), key)
			for salt := 1; taken[n]; salt++ { // identical refs or a hash clash
				n = withSuffix(sanitise(refs[i].ID), key+"#"+strconv.Itoa(salt))
			}
			names[i] = n
			taken[n] = true
		}
	}
	return names
}
