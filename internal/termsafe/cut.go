package termsafe

import "unicode/utf8"

// Unit is what a bound on the length of text counts.
type Unit uint8

const (
	Runes Unit = iota // characters, as a person counts them
	Bytes             // bytes of UTF-8
	UTF16             // UTF-16 code units, as Excel counts the characters of a cell
)

// width is the length in u of the character r, encoded in size bytes.
func (u Unit) width(r rune, size int) int {
	switch {
	case u == Bytes:
		return size
	case u == UTF16 && r > 0xffff:
		return 2
	}
	return 1
}

// Len is the length of s in u. A byte that is not UTF-8 counts as one
// character.
func Len(s string, u Unit) int {
	switch u {
	case Bytes:
		return len(s)
	case Runes:
		return utf8.RuneCountInString(s)
	}
	n := 0
	for _, r := range s {
		n += u.width(r, 0)
	}
	return n
}

// Head returns the longest beginning of s that is at most limit long in u
// and ends between two characters, and the length in u of the rest.
func Head(s string, limit int, u Unit) (head string, rest int) {
	i, n := 0, 0
	for i < len(s) {
		r, size := utf8.DecodeRuneInString(s[i:])
		w := u.width(r, size)
		if n+w > limit {
			break
		}
		n, i = n+w, i+size
	}
	return s[:i], Len(s[i:], u)
}

// Cut shortens text for display to at most limit in u, marker included: s
// itself when it fits, otherwise its Head followed by marker(n), n being the
// length in u of the part left out. A cut never splits a character, so
// UTF-8 stays UTF-8. The marker must not grow longer as n falls (a count
// in decimal does not); one longer than limit is all that is returned.
func Cut(s string, limit int, u Unit, marker func(omitted int) string) string {
	if len(s) <= limit { // no character is shorter than a byte
		return s
	}
	total := Len(s, u)
	if total <= limit {
		return s
	}
	room := limit - Len(marker(total), u) // the longest marker: every character left out
	head, rest := Head(s, room, u)
	return head + marker(rest)
}
