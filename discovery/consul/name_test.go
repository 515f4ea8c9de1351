package consul

import (
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
		{name: "non-ASCII replaced per rune", id: "wéb", want: "w-b-" + hash8("wéb")},
		{name: "too long cut", id: long, want: strings.Repeat("a", 54) + "-" + hash8(long)},
		{name: "nothing usable", id: "///", want: hash8("///")},
		{name: "empty", id: "", want: hash8("")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ServerName(tt.id)
			if got != tt.want {
				t.Errorf("ServerName(%q) = %q, want %q", tt.id, got, tt.want)
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
		n := ServerName(id)
		if other, ok := seen[n]; ok {
			t.Errorf("ServerName(%q) = ServerName(%q) = %q", id, other, n)
		}
		seen[n] = id
	}
}

func FuzzServerName(f *testing.F) {
	for _, s := range []string{"", "web 1", "-a", strings.Repeat("x/", 40), "日本", "a\nb"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, id string) {
		got := ServerName(id)
		if !NamePattern.MatchString(got) {
			t.Fatalf("ServerName(%q) = %q does not match %s", id, got, NamePattern)
		}
		if ServerName(id) != got {
			t.Fatalf("ServerName(%q) is not stable", id)
		}
	})
}

func TestAssignNames(t *testing.T) {
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
			name: "same id on two nodes: first node keeps the name",
			refs: []serviceRef{{Node: "n2", ID: "chat"}, {Node: "n1", ID: "chat"}},
			want: []string{"chat-" + hash8("n2/chat"), "chat"},
		},
		{
			name: "suffixed name taken by a real id",
			refs: []serviceRef{
				{Node: "n1", ID: "chat"}, {Node: "n2", ID: "chat"},
				{Node: "n3", ID: "chat-" + hash8("n2/chat")},
			},
			want: []string{"chat", "chat-" + hash8("n2/chat#1"), "chat-" + hash8("n2/chat")},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := assignNames(tt.refs)
			if strings.Join(got, " ") != strings.Join(tt.want, " ") {
				t.Errorf("assignNames(%v)\n got %q\nwant %q", tt.refs, got, tt.want)
			}
		})
	}
}

func TestAssignNamesIgnoresOrder(t *testing.T) {
	refs := []serviceRef{{Node: "a", ID: "x"}, {Node: "b", ID: "x"}, {Node: "c", ID: "x"}, {Node: "a", ID: "x y"}}
	want := map[serviceRef]string{}
	for i, n := range assignNames(refs) {
		want[refs[i]] = n
	}
	reversed := []serviceRef{refs[3], refs[2], refs[1], refs[0]}
	for i, n := range assignNames(reversed) {
		if want[reversed[i]] != n {
			t.Errorf("%v: got %q in reverse order, %q in order", reversed[i], n, want[reversed[i]])
		}
	}
}
