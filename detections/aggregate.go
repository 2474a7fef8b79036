package detections

import (
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/evtxhunt/evtxhunt/timeline"
)

// Findings of one rule on one host whose processes run the same thing are
// one finding with many hits: a busy server's service starting cmd.exe a
// hundred thousand times is one thing to look at, not a hundred thousand.
// "The same thing" is the same image, parent image and command line once
// the parts that change from one run to the next are set aside (shape).

// Last is the time of the finding's last hit.
func (f *Finding) Last() time.Time { return f.Hits[len(f.Hits)-1].Process.Time }

// aggregateKey appends what identifies the hits one finding gathers: the
// shapes of the process's image, its parent's image and its command line.
func aggregateKey(dst []byte, p *timeline.Process) []byte {
	dst = appendShape(dst, p.Image)
	dst = append(dst, 0)
	dst = appendShape(dst, p.ResolvedParentImage())
	dst = append(dst, 0)
	return appendShape(dst, p.CommandLine)
}

// appendShape appends s in lower case with each word that varies between
// runs of one command replaced by '#': a word (a run of letters and digits)
// that holds a digit (counters, pids, dates, hex, GUID parts, temporary
// names), a run of 8 or more hex letters, a word of 24 or more characters
// (encoded payloads), and a word of 8 or more characters that switches
// from lower to upper case three times or more (random names such as
// "aBcDeFgH"; "WindowsPowerShell" switches twice).
func appendShape(dst []byte, s string) []byte {
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if !isWordRune(r) {
			dst = utf8.AppendRune(dst, unicode.ToLower(r))
			i += size
			continue
		}
		j := i
		var n, switches int
		digit, hex := false, true
		prevLower := false
		for j < len(s) {
			r, size := utf8.DecodeRuneInString(s[j:])
			if !isWordRune(r) {
				break
			}
			n++
			digit = digit || unicode.IsDigit(r)
			hex = hex && (r >= 'a' && r <= 'f' || r >= 'A' && r <= 'F' || unicode.IsDigit(r))
			if unicode.IsUpper(r) && prevLower {
				switches++
			}
			prevLower = unicode.IsLower(r)
			j += size
		}
		if digit || hex && n >= 8 || n >= 24 || n >= 8 && switches >= 3 {
			dst = append(dst, '#')
		} else {
			for _, r := range s[i:j] {
				dst = utf8.AppendRune(dst, unicode.ToLower(r))
			}
		}
		i = j
	}
	return dst
}

func isWordRune(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) }
