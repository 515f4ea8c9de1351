package consul

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestServerName(t *testing.T) {
	long := strings.Repeat("a", 70)
	tests := []struct {
		name string
		id   string
		want string
	}{
		{name: "valid id kept", id: "chat-ws-10.0.0.5:8080", want: "chat-ws-10.0.0.5:8080"},
		{name: "underscore and dot kept", id: "web_1.eu", want: "web_1.eu"},
		{name: "63 characters kept", id: strings.Repeat("b", 63), want: strings.Repeat("b", 63)},
		{name: "space replaced", id: "web 1", want: "web-1-" + hash8("web 1")},
		{name: "slash replaced", id: "web/1", want: "web-1-" + hash8("web/1")},
		{name: "leading punctuation trimmed", id: "_nomad-task-1", want: "nomad-task-1-" + hash8("_nomad-task-1")},
		{name: "trailing dash trimmed", id: "web 1 ", want: "web-1-" + hash8("web 1 ")},
		{name: "too long cut", id: long, want: strings.Repeat("a", 54) + "-" + hash8(long)},
		{name: "nothing usable", id: "///", want: hash8("///")},
		{name: "empty", id: "", want: hash8("")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ServerName(tt.id)
			if err != nil || got != tt.want {
				t.Errorf("ServerName(%q) = %q, %v; want %q", tt.id, got, err, tt.want)
			}
			if !NamePattern.MatchString(got) {
				t.Errorf("ServerName(%q) = %q does not match %s", tt.id, got, NamePattern)
			}
		})
	}
}

func hash8(s string) string { return withSuffix("", s) }

func TestServerNameDistinguishesLookalikes(t *testing.T) {
	ids := []string{"web 1", "web/1", "web-1", "web_1", "web 1 "}
	seen := map[string]string{}
	for _, id := range ids {
		n, _ := ServerName(id)
		if other, ok := seen[n]; ok {
			t.Errorf("ServerName(%q) = ServerName(%q) = %q", id, other, n)
		}
		seen[n] = id
	}
}

// Look-alikes of ASCII punctuation, control characters and any other
// non-ASCII are refused: folded into '-', U+2010 HYPHEN made "echo‐1" read
// as "echo-1" in every log and listing.
func TestServerNameRefusesNonASCII(t *testing.T) {
	for _, id := range []string{
		"echo\u20101",  // HYPHEN
		"echo\u22121",  // MINUS SIGN
		"echo\u20111",  // NON-BREAKING HYPHEN
		"echo\uff0d1",  // FULLWIDTH HYPHEN-MINUS
		"echo-\uff11",  // FULLWIDTH DIGIT ONE
		"echo-1\u200b", // ZERO WIDTH SPACE
		"w\u00e9b",     // é
		"echo-1\n",
		"echo\t1",
		"echo\x001",
		"echo\x7f",
		"\xff",
	} {
		got, err := ServerName(id)
		if !errors.Is(err, ErrIDNotASCII) || got != "" {
			t.Errorf("ServerName(%q) = %q, %v; want ErrIDNotASCII", id, got, err)
		}
	}
}

func FuzzServerName(f *testing.F) {
	for _, s := range []string{"", "web 1", "-a", strings.Repeat("x/", 40), "日本", "a\nb", "echo\u20101"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, id string) {
		got, err := ServerName(id)
		printable := !strings.ContainsFunc(id, func(r rune) bool { return r < ' ' || r > '~' })
		if printable != (err == nil) {
			t.Fatalf("ServerName(%q) error = %v; want one only when the id is not printable ASCII", id, err)
		}
		if err != nil {
			return
		}
		if !NamePattern.MatchString(got) {
			t.Fatalf("ServerName(%q) = %q does not match %s", id, got, NamePattern)
		}
		if again, _ := ServerName(id); again != got {
			t.Fatalf("ServerName(%q) is not stable", id)
		}
	})
}

func TestAssignNames(t *testing.T) {
	suffixed := "chat-" + hash8("n2/chat") // the name n2's "chat" gets when n1's is older
	tests := []struct {
		name string
		refs []serviceRef
		want []string
	}{
		{
			name: "distinct ids",
			refs: []serviceRef{{Node: "n1", ID: "a"}, {Node: "n1", ID: "b"}},
			want: []string{"a", "b"},
		},
		{
			// The takeover: a registration copying "chat" on a node that
			// sorts first took the name before.
			name: "same id on two nodes: the older keeps the name",
			refs: []serviceRef{{Node: "n2", ID: "chat", Created: 10}, {Node: "n1", ID: "chat", Created: 20}},
			want: []string{"chat", "chat-" + hash8("n1/chat")},
		},
		{
			name: "same id, same index: node order",
			refs: []serviceRef{{Node: "n2", ID: "chat", Created: 7}, {Node: "n1", ID: "chat", Created: 7}},
			want: []string{suffixed, "chat"},
		},
		{
			name: "suffixed name held by an older id",
			refs: []serviceRef{
				{Node: "n1", ID: "chat", Created: 1}, {Node: "n2", ID: "chat", Created: 3},
				{Node: "n3", ID: suffixed, Created: 2},
			},
			want: []string{"chat", "chat-" + hash8("n2/chat#1"), suffixed},
		},
		{
			name: "suffixed name claimed by a later id",
			refs: []serviceRef{
				{Node: "n1", ID: "chat", Created: 1}, {Node: "n2", ID: "chat", Created: 2},
				{Node: "n3", ID: suffixed, Created: 3},
			},
			want: []string{"chat", suffixed, withSuffix(suffixed, "n3/"+suffixed)},
		},
		{
			name: "identical refs",
			refs: []serviceRef{{Node: "n1", ID: "chat"}, {Node: "n1", ID: "chat"}},
			want: []string{"chat", "chat-" + hash8("n1/chat")},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := namesOf(tt.refs)
			if strings.Join(got, " ") != strings.Join(tt.want, " ") {
				t.Errorf("assignNames(%v)\n got %q\nwant %q", tt.refs, got, tt.want)
			}
		})
	}
}

// Instances registered one after another, every one competing for a name
// some older one holds or wants: each keeps the name it got when it
// appeared, whatever appears after it.
func TestAssignNamesKeepsNamesAsInstancesAppear(t *testing.T) {
	ids := []string{"echo-1", "echo 1", "echo-1", "echo/1", "echo-1-" + hash8("echo 1"), "echo-1", "a", "echo-1-" + hash8("zz/echo-1")}
	nodes := []string{"zz", "yy", "aa", "aa", "00", "0", "0", "a"}
	var refs []serviceRef
	var before []string
	for i := range ids {
		refs = append(refs, serviceRef{Node: nodes[i], ID: ids[i], Created: uint64(100 + i)})
		got := namesOf(refs)
		if !slices.Equal(got[:i], before) {
			t.Fatalf("after %v appeared:\n got %q\nwant %q for the older ones", refs[i], got[:i], before)
		}
		if slices.Contains(got[:i], got[i]) {
			t.Fatalf("%v got %q, an older instance's name: %q", refs[i], got[i], got)
		}
		before = got
	}
	if before[0] != "echo-1" {
		t.Errorf("the first echo-1 is named %q", before[0])
	}
}

func TestAssignNamesIgnoresOrder(t *testing.T) {
	refs := []serviceRef{{Node: "a", ID: "x"}, {Node: "b", ID: "x"}, {Node: "c", ID: "x"}, {Node: "a", ID: "x y"}}
	want := map[serviceRef]string{}
	for i, n := range namesOf(refs) {
		want[refs[i]] = n
	}
	reversed := []serviceRef{refs[3], refs[2], refs[1], refs[0]}
	for i, n := range namesOf(reversed) {
		if want[reversed[i]] != n {
			t.Errorf("%v: got %q in reverse order, %q in order", reversed[i], n, want[reversed[i]])
		}
	}
}

// namesOf is assignNames with each ref's own name.
func namesOf(refs []serviceRef) []string {
	own := make([]string, len(refs))
	for i, r := range refs {
		own[i], _ = ServerName(r.ID)
	}
	return assignNames(refs, own)
}
