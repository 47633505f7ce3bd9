package resources_test

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/rosterhq/roster/resources"
)

// FuzzNormalizeEmail checks the one email normalization: it never panics;
// what it accepts is UTF-8 within RFC 5321's lengths, normalized again
// unchanged (every path compares the same form), and found by EmailKey as
// itself; what it refuses it says why.
//
//	go test -run='^$' -fuzz='^FuzzNormalizeEmail$' -fuzztime=100000x ./resources
func FuzzNormalizeEmail(f *testing.F) {
	for _, s := range []string{"alice@x.com", "Ada@BÜCHER.example", "ada@xn--bcher-kva.example", "\u0430lice@x.com",
		"\u0430\u0441\u0435@x.com", "al\u200bice@x.com", "ﬁ@x.com", "иван@пример.рф", "田中@例え.jp", "a@x_y.com",
		strings.Repeat("a", 65) + "@x.com", "a@" + strings.Repeat("b.", 130) + "com", "\"a b\"@x.com", "a@[127.0.0.1]"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		norm, err := resources.NormalizeEmail(s)
		if err != nil {
			if e, ok := err.(*resources.EmailError); !ok || e.Reason == "" {
				t.Fatalf("%q refused without a reason: %v", s, err)
			}
			return
		}
		ascii := resources.EmailASCII(norm)
		local, _, _ := strings.Cut(norm, "@")
		switch {
		case !utf8.ValidString(norm):
			t.Fatalf("%q normalized to text that is not UTF-8: %q", s, norm)
		case len(local) > resources.MaxEmailLocal || len(ascii) > resources.MaxEmail:
			t.Fatalf("%q normalized to %q (%d bytes as sent), over RFC 5321's lengths", s, norm, len(ascii))
		case resources.EmailKey(s) != norm || resources.EmailKey(norm) != norm:
			t.Fatalf("EmailKey(%q) = %q, not %q", s, resources.EmailKey(s), norm)
		}
		if again, err := resources.NormalizeEmail(norm); err != nil || again != norm {
			t.Fatalf("%q normalized to %q, which normalizes to %q (%v)", s, norm, again, err)
		}
		if again, err := resources.NormalizeEmail(ascii); err != nil || again != norm {
			t.Fatalf("the ASCII form %q of %q normalizes to %q (%v)", ascii, norm, again, err)
		}
	})
}
