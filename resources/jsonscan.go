package resources

import (
	"bytes"
	"encoding/json"
)

// A small scanner for the strict decoder's element check: it splits JSON
// that encoding/json will validate anyway into members and elements
// without building maps or copying values. ok is false for anything that
// is not the expected shape (or not well-formed); the strict decode then
// reports it.

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipString returns the index after the string starting at b[i] ('"'),
// or -1.
func skipString(b []byte, i int) int {
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return -1
}

// skipValue returns the index after the value starting at b[i], or -1.
func skipValue(b []byte, i int) int {
	if i >= len(b) {
		return -1
	}
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for ; i < len(b); i++ {
			switch b[i] {
			case '"':
				if i = skipString(b, i); i < 0 {
					return -1
				}
				i--
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return i + 1
				}
			}
		}
		return -1
	}
	for ; i < len(b); i++ {
		switch b[i] {
		case ',', '}', ']', ' ', '\t', '\n', '\r':
			return i
		}
	}
	return i
}

// jsonMembers splits a JSON object into its keys and raw values.
func jsonMembers(b []byte) (keys []string, vals [][]byte, ok bool) {
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return nil, nil, false
	}
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		return nil, nil, skipSpace(b, i+1) == len(b)
	}
	for i < len(b) {
		if b[i] != '"' {
			return nil, nil, false
		}
		end := skipString(b, i)
		if end < 0 {
			return nil, nil, false
		}
		key, ok := jsonKey(b[i:end])
		if !ok {
			return nil, nil, false
		}
		i = skipSpace(b, end)
		if i >= len(b) || b[i] != ':' {
			return nil, nil, false
		}
		i = skipSpace(b, i+1)
		end = skipValue(b, i)
		if end < 0 {
			return nil, nil, false
		}
		keys, vals = append(keys, key), append(vals, b[i:end])
		i = skipSpace(b, end)
		if i < len(b) && b[i] == ',' {
			i = skipSpace(b, i+1)
			continue
		}
		if i < len(b) && b[i] == '}' {
			return keys, vals, skipSpace(b, i+1) == len(b)
		}
		return nil, nil, false
	}
	return nil, nil, false
}

// jsonElements splits a JSON array into its raw elements.
func jsonElements(b []byte) ([][]byte, bool) {
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '[' {
		return nil, false
	}
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == ']' {
		return nil, skipSpace(b, i+1) == len(b)
	}
	var out [][]byte
	for i < len(b) {
		end := skipValue(b, i)
		if end < 0 {
			return nil, false
		}
		out = append(out, b[i:end])
		i = skipSpace(b, end)
		if i < len(b) && b[i] == ',' {
			i = skipSpace(b, i+1)
			continue
		}
		if i < len(b) && b[i] == ']' {
			return out, skipSpace(b, i+1) == len(b)
		}
		return nil, false
	}
	return nil, false
}

// jsonKey decodes a quoted key; only keys with escapes or non-ASCII bytes
// need encoding/json (which also replaces invalid UTF-8).
func jsonKey(q []byte) (string, bool) {
	for _, c := range q[1 : len(q)-1] {
		if c == '\\' || c >= 0x80 {
			var s string
			return s, json.Unmarshal(q, &s) == nil
		}
	}
	return string(q[1 : len(q)-1]), true
}

// controlChar reports whether b, valid JSON, holds a string with a control
// character FHIR forbids: below U+0020 other than tab, line feed and
// carriage return. Valid JSON can hold them only escaped.
func controlChar(b []byte) bool {
	for i := bytes.IndexByte(b, '\\'); i >= 0 && i+1 < len(b); {
		switch b[i+1] {
		case 'b', 'f':
			return true
		case 'u':
			if i+5 < len(b) && b[i+2] == '0' && b[i+3] == '0' && (b[i+4] == '0' || b[i+4] == '1') {
				switch string(b[i+4 : i+6]) {
				case "09", "0a", "0A", "0d", "0D":
				default:
					return true
				}
			}
		}
		// Skip the escape's second character (it may be a backslash).
		next := bytes.IndexByte(b[i+2:], '\\')
		if next < 0 {
			return false
		}
		i += 2 + next
	}
	return false
}

// ControlChar is controlChar for a plain string: whether s holds a control
// character FHIR strings may not.
func ControlChar(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 && c != '\t' && c != '\n' && c != '\r' {
			return true
		}
	}
	return false
}
