package termsafe

import (
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"
)

// TestCut cuts text of one-, two-, three- and four-byte characters (the
// last two UTF-16 units in Excel) in every unit: the result fits its bound
// with the marker, ends between characters, and the marker counts exactly
// what was left out.
func TestCut(t *testing.T) {
	marker := func(n int) string { return fmt.Sprintf(" [%d more]", n) }
	for _, tc := range []struct {
		name, s string
		limit   int
		u       Unit
		head    string
	}{
		// The marker " [NN more]" takes 10 of the bound.
		{"ASCII in runes", strings.Repeat("a", 30), 20, Runes, strings.Repeat("a", 10)},
		{"two-byte runes", strings.Repeat("é", 30), 20, Runes, strings.Repeat("é", 10)},
		{"two-byte runes in bytes", strings.Repeat("é", 30), 20, Bytes, "ééééé"},
		{"three-byte runes in bytes", strings.Repeat("漢", 30), 21, Bytes, "漢漢漢"},                    // 11 bytes of room hold 3 whole characters
		{"four-byte runes in UTF-16", strings.Repeat("😀", 30), 21, UTF16, "😀😀😀😀😀"},                  // 2 units each
		{"three-byte runes in UTF-16", strings.Repeat("漢", 30), 21, UTF16, strings.Repeat("漢", 11)}, // 1 unit each
		{"fits", strings.Repeat("漢", 30), 30, Runes, ""},
		{"fits in UTF-16 although longer in bytes", strings.Repeat("漢", 30), 30, UTF16, ""},
		{"marker longer than the bound", strings.Repeat("a", 30), 5, Runes, ""},
	} {
		got := Cut(tc.s, tc.limit, tc.u, marker)
		if tc.head == "" && Len(tc.s, tc.u) <= tc.limit {
			if got != tc.s {
				t.Errorf("%s: %q, want it whole", tc.name, got)
			}
			continue
		}
		want := tc.head + marker(Len(tc.s, tc.u)-Len(tc.head, tc.u))
		if got != want || !utf8.ValidString(got) {
			t.Errorf("%s: %q, want %q", tc.name, got, want)
		}
		if Len(got, tc.u) > tc.limit && tc.head != "" {
			t.Errorf("%s: %d long, bound %d", tc.name, Len(got, tc.u), tc.limit)
		}
	}
	// A byte that is not UTF-8 is one character; a cut keeps whole the
	// characters around it.
	if head, rest := Head("é\xffé", 3, Bytes); head != "é\xff" || rest != 2 {
		t.Errorf("Head = %q, %d", head, rest)
	}
	if n := Len("😀\xff漢", UTF16); n != 4 {
		t.Errorf("Len in UTF-16 = %d, want 4", n)
	}
}
