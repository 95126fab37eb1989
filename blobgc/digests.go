package blobgc

// digest is a blob's name as bytes: half the memory of its hex.
type digest [32]byte

// scanDigests calls fn with every run of exactly 64 hex digits in data, a
// JSON document, read as JSON reads it: an escape (\u0061, \b) counts as
// the character it stands for, so "\u0061bc…" is found as "abc…" and
// "\b" + 63 digits is not taken for a digest. Capitals are folded.
//
// Every digest a room's log names for a blob is a JSON string that is
// exactly such a run (a blob's name is 64 lower-case hex digits: the
// store refuses any other), so whatever event or field names it, the scan
// finds it: a new kind of event that names blobs needs no change here.
// What it finds besides — an event's hash, a report's digest, a key id —
// names no blob and costs nothing but a look-up.
func scanDigests(data []byte, fn func(digest)) {
	var run [64]byte
	n := 0 // hex digits in the current run; past 64 it is not a digest
	end := func() {
		if n == 64 {
			var d digest
			for i := range d {
				d[i] = run[2*i]<<4 | run[2*i+1]
			}
			fn(d)
		}
		n = 0
	}
	for i := 0; i < len(data); i++ {
		c := data[i]
		if c == '\\' && i+1 < len(data) {
			// An escape stands for one character; only \uXXXX can be a
			// hex digit. The others (\" \\ \/ \b \f \n \r \t) end a run.
			i++
			c = 0
			if data[i] == 'u' && i+4 < len(data) {
				v, ok := hex4(data[i+1 : i+5])
				if ok {
					i += 4
					if v < 0x80 {
						c = byte(v)
					}
				}
			}
		}
		v, ok := hexValue(c)
		if !ok {
			end()
			continue
		}
		if n < 64 {
			run[n] = v
		}
		n++
	}
	end()
}

// hexValue is the value of the hex digit c.
func hexValue(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// hex4 reads the four hex digits of a \u escape.
func hex4(b []byte) (rune, bool) {
	var r rune
	for _, c := range b {
		v, ok := hexValue(c)
		if !ok {
			return 0, false
		}
		r = r<<4 | rune(v)
	}
	return r, true
}
